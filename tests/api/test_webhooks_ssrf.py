"""Webhooks refuse non-public addresses, when subscribing and again at each delivery (a name
can resolve elsewhere later: DNS rebinding). Here private addresses are not allowed, as in
production; the receiver on loopback stands for an internal service."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from parlour.container import Container
from parlour.features.audit.models import AuditEntry
from parlour.features.webhooks.models import WebhookEndpoint
from parlour.settings import Settings
from tests.support.receiver import Receiver
from tests.support.world import direct, instance_owner, member, say


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # http is allowed so that only the address rule is tested; private addresses are not
    return settings.model_copy(update={"worker_in_process": False, "webhook_allow_http": True})


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.start()
    yield r
    r.stop()


@pytest.mark.promise("P-API-2")
async def test_loopback_private_and_mapped_addresses_are_refused_and_audited(
    app: FastAPI, container: Container, receiver: Receiver
) -> None:
    owner = await instance_owner(app, container)
    base = f"/api/v1/orgs/{owner.org_id}/webhooks"
    port = receiver.port
    for url in (
        receiver.url,  # localhost
        f"http://127.0.0.1:{port}/",
        f"http://[::1]:{port}/",
        f"http://[::ffff:127.0.0.1]:{port}/",
        "http://10.0.0.5/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00::1]/",
        "http://0.0.0.0/",
        "http://nowhere.invalid/",
        "http://user:secret@example.org/",
    ):
        response = await owner.http.post(
            base, json={"url": url, "event_types": ["message.created"]}
        )
        assert response.status_code == 422, url
        problem = response.json()
        assert problem["code"] == "webhook_url_refused", url
        assert problem["errors"][0]["field"] == "url"
    assert (await owner.http.get(base)).json() == []
    assert receiver.received == []
    async with container.db.transaction() as uow:
        actions = list(await uow.session.scalars(select(AuditEntry.action)))
    assert actions.count("webhook.url_refused") == 10
    await owner.close()


@pytest.mark.promise("P-API-2")
async def test_an_address_that_turns_private_later_is_refused_at_delivery(
    app: FastAPI, container: Container, receiver: Receiver
) -> None:
    owner = await instance_owner(app, container)
    other = await member(app, owner)
    base = f"/api/v1/orgs/{owner.org_id}/webhooks"
    made = await owner.http.post(
        base, json={"url": "http://93.184.215.14/hook", "event_types": ["message.created"]}
    )
    assert made.status_code == 201, made.text
    # The name now points at an internal address (as a rebinding DNS answer would).
    async with container.db.transaction() as uow:
        await uow.session.execute(
            update(WebhookEndpoint).values(url=receiver.url.replace("localhost", "127.0.0.1"))
        )
        await uow.commit()
    await say(owner, await direct(owner, other), "to the inside?")
    assert await container.jobs.run_due() == 1
    assert receiver.received == [], "nothing reached the internal address"
    [delivery] = (await owner.http.get(f"{base}/{made.json()['id']}/deliveries")).json()
    assert delivery["state"] == "pending"
    assert delivery["attempts"][0]["error"] == "webhook_url_refused"
    assert delivery["attempts"][0]["status_code"] is None
    await owner.close()
    await other.close()
