"""Webhooks through the public API, to a real HTTP receiver on loopback (P-API-1, P-API-2).

The receiver checks signatures with its own HMAC code; the job runner is driven by the test
(``run_due``) with the injected clock, so retries and their backoff are seen exactly.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from parlour.container import Container
from parlour.core.clock import FixedClock
from parlour.features.audit.models import AuditEntry
from parlour.features.webhooks import DISABLE_AFTER, MAX_ATTEMPTS, RETRY_DELAYS
from parlour.features.webhooks.models import WebhookDelivery
from parlour.settings import Settings
from tests.support.receiver import Received, Receiver, signed_by
from tests.support.world import Person, direct, instance_owner, member, say

ALL_TYPES = ["message.created", "message.edited", "message.deleted", "member.joined"]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "worker_in_process": False,  # the test runs the due jobs itself
            "webhook_allow_http": True,
            "webhook_allow_private": True,  # the receiver is on loopback
        }
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.start()
    yield r
    r.stop()


@pytest.fixture
async def people(app: FastAPI, container: Container) -> AsyncIterator[tuple[Person, Person]]:
    owner = await instance_owner(app, container)
    other = await member(app, owner)
    yield owner, other
    await owner.close()
    await other.close()


async def subscribe(
    admin: Person, url: str, types: list[str], scopes: list[str] | None = None
) -> dict[str, Any]:
    body = {"url": url, "event_types": types, "scopes": scopes or []}
    response = await admin.http.post(f"/api/v1/orgs/{admin.org_id}/webhooks", json=body)
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    return made


def payload(got: Received) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(got.body)
    return data


async def log_of(admin: Person, hook_id: str) -> list[dict[str, Any]]:
    response = await admin.http.get(f"/api/v1/orgs/{admin.org_id}/webhooks/{hook_id}/deliveries")
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


@pytest.mark.promise("P-API-1")
async def test_a_message_reaches_the_receiver_signed_and_the_log_shows_the_attempt(
    container: Container, people: tuple[Person, Person], receiver: Receiver, clock: FixedClock
) -> None:
    owner, other = people
    hook = await subscribe(owner, receiver.url, ["message.created"], ["messages:read"])
    assert hook["secret"].startswith("whsec_") and len(hook["secret"]) == 6 + 43
    listed = (await owner.http.get(f"/api/v1/orgs/{owner.org_id}/webhooks")).json()
    assert [h["id"] for h in listed] == [hook["id"]] and "secret" not in listed[0]

    cid = await direct(owner, other)
    sent = await say(other, cid, "hello hooks")
    assert await container.jobs.run_due() == 1

    [got] = receiver.received
    assert got.path == "/hooks"
    assert signed_by(hook["secret"], got)
    assert not signed_by("whsec_" + "x" * 43, got)
    assert int(got.headers["Parlour-Webhook-Timestamp"]) == int(clock.now().timestamp())
    body = payload(got)
    assert set(body) == {"id", "type", "created_at", "org_id", "data"}
    assert body["type"] == "message.created" and body["org_id"] == owner.org_id
    message = body["data"]["message"]
    assert message["id"] == sent["id"] and message["body"] == "hello hooks"
    assert message["sender_id"] == other.id and message["conversation_id"] == cid

    [delivery] = await log_of(owner, hook["id"])
    assert delivery["id"] == got.headers["Parlour-Webhook-Id"]
    assert delivery["state"] == "delivered"
    [attempt] = delivery["attempts"]
    assert attempt["status_code"] == 200 and attempt["error"] is None
    assert set(attempt) == {"attempt", "at", "status_code", "duration_ms", "error"}
    state = (await owner.http.get(f"/api/v1/orgs/{owner.org_id}/webhooks/{hook['id']}")).json()
    assert state["last_outcome"] == "HTTP 200" and state["last_delivery_at"] is not None


@pytest.mark.promise("P-API-2")
async def test_payloads_say_only_what_the_subscription_scopes_allow(
    app: FastAPI,
    container: Container,
    people: tuple[Person, Person],
    receiver: Receiver,
) -> None:
    owner, other = people
    wide = await subscribe(
        owner,
        receiver.url + "?wide",
        ["message.created", "member.joined"],
        ["messages:read", "members:read"],
    )
    narrow = await subscribe(owner, receiver.url + "?narrow", ["message.created", "member.joined"])
    cid = await direct(owner, other)
    await say(owner, cid, "secret plans")
    await container.jobs.run_due()

    by_kind: dict[tuple[str, str], dict[str, Any]] = {}
    for got in receiver.received:
        which = "wide" if got.path.endswith("wide") else "narrow"
        assert signed_by((wide if which == "wide" else narrow)["secret"], got)
        by_kind[(which, payload(got)["type"])] = payload(got)["data"]
    assert by_kind[("wide", "message.created")]["message"]["body"] == "secret plans"
    bare = by_kind[("narrow", "message.created")]["message"]
    assert "body" not in bare and b"secret plans" not in b"".join(
        r.body for r in receiver.received if r.path.endswith("narrow")
    )
    assert set(bare) == {
        "id",
        "conversation_id",
        "sender_id",
        "reply_to",
        "created_at",
        "edited_at",
        "deleted",
    }
    joined_wide = by_kind[("wide", "member.joined")]
    joined_narrow = by_kind[("narrow", "member.joined")]
    assert joined_wide["name"] and joined_wide["role"]
    assert set(joined_narrow) == {"conversation_id", "user_id"}


async def test_edits_and_deletions_are_their_own_events_and_a_deletion_carries_no_text(
    container: Container, people: tuple[Person, Person], receiver: Receiver
) -> None:
    owner, other = people
    hook = await subscribe(
        owner, receiver.url, ["message.edited", "message.deleted"], ["messages:read"]
    )
    cid = await direct(owner, other)
    sent = await say(owner, cid, "first")
    assert (
        await owner.http.patch(f"/api/v1/messages/{sent['id']}", json={"body": "second"})
    ).is_success
    assert (
        await owner.http.put(f"/api/v1/messages/{sent['id']}/reactions/thumbsup")
    ).status_code < 300
    assert (await owner.http.delete(f"/api/v1/messages/{sent['id']}")).is_success
    await container.jobs.run_due()
    kinds = [payload(r)["type"] for r in receiver.received]
    assert sorted(kinds) == ["message.deleted", "message.edited"], "a reaction is no webhook"
    deleted = next(payload(r) for r in receiver.received if payload(r)["type"] == "message.deleted")
    assert deleted["data"]["message"]["deleted"] is True
    assert deleted["data"]["message"]["body"] is None
    edited = next(payload(r) for r in receiver.received if payload(r)["type"] == "message.edited")
    assert edited["data"]["message"]["edited_at"] is not None
    assert all(signed_by(hook["secret"], r) for r in receiver.received)


@pytest.mark.promise("P-API-1")
async def test_a_receiver_that_is_down_gets_the_delivery_later_with_backoff(
    container: Container, people: tuple[Person, Person], receiver: Receiver, clock: FixedClock
) -> None:
    owner, other = people
    hook = await subscribe(owner, receiver.url, ["message.created"], ["messages:read"])
    receiver.stop()
    cid = await direct(owner, other)
    await say(owner, cid, "are you there?")
    assert await container.jobs.run_due() == 1  # the first attempt fails
    assert await container.jobs.run_due() == 0, "the retry waits for its backoff"
    clock.advance(RETRY_DELAYS[0] - timedelta(seconds=1))
    assert await container.jobs.run_due() == 0
    clock.advance(timedelta(seconds=1))
    assert await container.jobs.run_due() == 1  # the second attempt fails too
    [delivery] = await log_of(owner, hook["id"])
    assert delivery["state"] == "pending"
    assert [a["error"] for a in delivery["attempts"]] == ["connect_error", "connect_error"]
    assert [a["status_code"] for a in delivery["attempts"]] == [None, None]

    receiver.start()
    clock.advance(RETRY_DELAYS[1])
    assert await container.jobs.run_due() == 1
    [got] = receiver.received
    assert got.headers["Parlour-Webhook-Id"] == delivery["id"], "the id stays across retries"
    assert signed_by(hook["secret"], got)
    assert int(got.headers["Parlour-Webhook-Timestamp"]) == int(clock.now().timestamp())
    [delivery] = await log_of(owner, hook["id"])
    assert delivery["state"] == "delivered"
    assert [a["status_code"] for a in delivery["attempts"]] == [None, None, 200]


async def _run_every_attempt(container: Container, clock: FixedClock) -> None:
    await container.jobs.run_due()
    for delay in RETRY_DELAYS:
        clock.advance(delay)
        await container.jobs.run_due()


@pytest.mark.promise("P-API-1")
async def test_an_endpoint_that_keeps_failing_is_turned_off_and_the_owner_is_mailed(
    container: Container, people: tuple[Person, Person], receiver: Receiver, clock: FixedClock
) -> None:
    owner, other = people
    hook = await subscribe(owner, receiver.url, ["message.created"])
    receiver.status = 500
    cid = await direct(owner, other)
    for n in range(DISABLE_AFTER):
        await say(owner, cid, f"message {n}")
    await _run_every_attempt(container, clock)
    assert len(receiver.received) == DISABLE_AFTER * MAX_ATTEMPTS
    state = (await owner.http.get(f"/api/v1/orgs/{owner.org_id}/webhooks/{hook['id']}")).json()
    assert state["state"] == "disabled" and state["last_outcome"] == "HTTP 500"
    log = await log_of(owner, hook["id"])
    assert {d["state"] for d in log} == {"failed"}
    assert all(len(d["attempts"]) == MAX_ATTEMPTS for d in log)

    mails = [m for m in await container.mailer.recent() if m.to_addr == owner.email]
    assert any("turned off" in m.subject and receiver.url in (m.body or "") for m in mails)
    async with container.db.transaction() as uow:
        actions = list(await uow.session.scalars(select(AuditEntry.action)))
    assert "webhook.disable" in actions and "webhook.create" in actions

    receiver.status = 200
    await say(owner, cid, "nobody hears this")
    assert await container.jobs.run_due() == 0, "a disabled endpoint gets nothing"
    resumed = await owner.http.patch(
        f"/api/v1/orgs/{owner.org_id}/webhooks/{hook['id']}", json={"state": "active"}
    )
    assert resumed.json()["state"] == "active" and resumed.json()["failed_in_a_row"] == 0
    await say(owner, cid, "back again")
    assert await container.jobs.run_due() == 1
    assert payload(receiver.received[-1])["type"] == "message.created"


async def test_a_redirect_is_not_followed(
    container: Container, people: tuple[Person, Person], receiver: Receiver
) -> None:
    owner, other = people
    hook = await subscribe(owner, receiver.url, ["message.created"])
    receiver.status, receiver.location = 307, receiver.url + "/elsewhere"
    await say(owner, await direct(owner, other), "hi")
    await container.jobs.run_due()
    assert [r.path for r in receiver.received] == ["/hooks"]
    [delivery] = await log_of(owner, hook["id"])
    assert delivery["state"] == "pending" and delivery["attempts"][0]["status_code"] == 307


async def test_a_rotated_secret_signs_beside_the_old_one_during_the_grace(
    container: Container, people: tuple[Person, Person], receiver: Receiver, clock: FixedClock
) -> None:
    owner, other = people
    hook = await subscribe(owner, receiver.url, ["message.created"])
    path = f"/api/v1/orgs/{owner.org_id}/webhooks/{hook['id']}/rotate-secret"
    rotated = (await owner.http.post(path)).json()
    assert rotated["secret"] != hook["secret"] and rotated["previous_secret_until"]
    cid = await direct(owner, other)
    await say(owner, cid, "one")
    await container.jobs.run_due()
    got = receiver.received[-1]
    assert len(got.headers["Parlour-Signature"].split(" ")) == 2
    assert signed_by(hook["secret"], got) and signed_by(rotated["secret"], got)

    clock.advance(timedelta(hours=24, seconds=1))
    await say(owner, cid, "two")
    await container.jobs.run_due()
    got = receiver.received[-1]
    assert signed_by(rotated["secret"], got) and not signed_by(hook["secret"], got)


async def test_pausing_stops_deliveries_and_deleting_removes_the_endpoint(
    container: Container, people: tuple[Person, Person], receiver: Receiver
) -> None:
    owner, other = people
    hook = await subscribe(owner, receiver.url, ["message.created"])
    path = f"/api/v1/orgs/{owner.org_id}/webhooks/{hook['id']}"
    cid = await direct(owner, other)
    assert (await owner.http.patch(path, json={"state": "paused"})).json()["state"] == "paused"
    await say(owner, cid, "while paused")
    assert await container.jobs.run_due() == 0 and receiver.received == []
    assert (await owner.http.patch(path, json={"state": "active"})).json()["state"] == "active"
    await say(owner, cid, "after")
    assert await container.jobs.run_due() == 1 and len(receiver.received) == 1
    assert (await owner.http.delete(path)).status_code == 204
    assert (await owner.http.get(path)).status_code == 404
    await say(owner, cid, "gone")
    assert await container.jobs.run_due() == 0


@pytest.mark.promise("P-API-2")
async def test_only_the_organisations_admins_manage_its_webhooks(
    app: FastAPI, container: Container, people: tuple[Person, Person], receiver: Receiver
) -> None:
    from tests.support.world import second_org

    owner, other = people
    hook = await subscribe(owner, receiver.url, ["message.created"])
    base = f"/api/v1/orgs/{owner.org_id}/webhooks"
    refused = await other.http.post(
        base, json={"url": receiver.url, "event_types": ["message.created"]}
    )
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    assert (await other.http.get(base)).status_code == 403
    stranger = await second_org(app, owner)
    try:
        for response in (
            await stranger.http.get(base),
            await stranger.http.get(f"{base}/{hook['id']}/deliveries"),
            await stranger.http.delete(f"{base}/{hook['id']}"),
            await stranger.http.get(f"/api/v1/orgs/{stranger.org_id}/webhooks/{hook['id']}"),
        ):
            assert response.status_code == 404, response.text
    finally:
        await stranger.close()


async def test_calls_starting_and_ending_are_sent_with_details_only_under_calls_read(
    container: Container, people: tuple[Person, Person], receiver: Receiver
) -> None:
    owner, other = people
    kinds = ["call.started", "call.ended"]
    await subscribe(owner, receiver.url + "?wide", kinds, ["calls:read"])
    await subscribe(owner, receiver.url + "?narrow", kinds)
    cid = await direct(owner, other)
    started = await owner.http.post(
        "/api/v1/calls", json={"conversation_id": cid, "media": "audio", "device_id": "d" * 32}
    )
    assert started.status_code == 201, started.text
    call_id = started.json()["id"]
    assert (await owner.http.post(f"/api/v1/calls/{call_id}/hangup", json={})).is_success
    await container.jobs.run_due()
    got = {
        (r.path.rsplit("?", 1)[1], payload(r)["type"]): payload(r)["data"]
        for r in receiver.received
    }
    bare = {"call_id": call_id, "conversation_id": cid}
    assert got[("wide", "call.started")] == {**bare, "caller_id": owner.id, "media": "audio"}
    assert got[("wide", "call.ended")]["outcome"] == "cancelled"
    assert got[("wide", "call.ended")]["call_id"] == call_id
    assert got[("narrow", "call.started")] == bare
    assert got[("narrow", "call.ended")] == bare


async def test_the_delivery_log_is_purged_after_thirty_days(
    container: Container, people: tuple[Person, Person], receiver: Receiver, clock: FixedClock
) -> None:
    owner, other = people
    await subscribe(owner, receiver.url, ["message.created"])
    await say(owner, await direct(owner, other), "old news")
    await container.jobs.run_due()
    clock.advance(timedelta(days=29))
    assert await container.webhooks.sender.purge() == 0
    clock.advance(timedelta(days=1, seconds=1))
    assert await container.webhooks.sender.purge() == 1
    async with container.db.transaction() as uow:
        assert list(await uow.session.scalars(select(WebhookDelivery.id))) == []


@pytest.mark.promise("P-API-1")
async def test_https_goes_to_the_checked_address_with_the_name_kept_for_tls(
    container: Container, people: tuple[Person, Person], clock: FixedClock
) -> None:
    """The request is pinned to the address that was checked, yet TLS still asks for and
    verifies the host name: a certificate for the name is required and enough."""
    owner, other = people
    receiver = Receiver(tls=True)
    receiver.start()
    try:
        hook = await subscribe(owner, receiver.url, ["message.created"])
        cid = await direct(owner, other)
        await say(owner, cid, "untrusted")
        await container.jobs.run_due()  # the system's trust store does not know this CA
        [delivery] = await log_of(owner, hook["id"])
        assert delivery["attempts"][0]["error"] == "connect_error"
        assert receiver.received == []

        container.webhooks.sender.tls_verify = receiver.trust()
        clock.advance(RETRY_DELAYS[0])
        await container.jobs.run_due()
        [got] = receiver.received
        assert signed_by(hook["secret"], got)
        assert got.headers["Host"] == f"localhost:{receiver.port}"
        assert receiver.sni[-1] == "localhost"
    finally:
        receiver.stop()


@pytest.mark.promise("P-API-1")
async def test_an_api_key_manages_webhooks_only_with_webhooks_manage(
    app: FastAPI, people: tuple[Person, Person], receiver: Receiver
) -> None:
    from tests.api.test_api_keys import key_client, new_key

    owner, _ = people
    base = f"/api/v1/orgs/{owner.org_id}/webhooks"
    body = {"url": receiver.url, "event_types": ["message.created"]}
    reader = await new_key(owner, ["messages:read"])
    manager = await new_key(owner, ["webhooks:manage"])
    async with key_client(app, reader["key"]) as program:
        refused = await program.post(base, json=body)
    assert refused.status_code == 403, refused.text
    assert refused.json()["required_scope"] == "webhooks:manage"
    async with key_client(app, manager["key"]) as program:
        made = await program.post(base, json=body)
        assert made.status_code == 201, made.text
        listed = await program.get(base)
    assert [h["id"] for h in listed.json()] == [made.json()["id"]]
