"""Delete my account: it stops working in the same request, a durable job erases it by the data
map's rules within the stated bound, legal holds keep what they cover, and a receipt says what
was kept and why."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from parlour.container import Container
from parlour.features.accounts.models import User
from parlour.features.chat.models import Message
from parlour.features.privacy.models import LegalHold
from parlour.jobs.models import Job
from parlour.settings import Settings
from tests.conftest import make_client
from tests.support.world import (
    PASSWORD,
    Person,
    direct,
    instance_owner,
    member,
    say,
    token_for,
)

pytestmark = pytest.mark.promise("P-RIGHTS-4")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"worker_in_process": False})


async def reauth(person: Person) -> None:
    response = await person.http.post("/api/v1/auth/reauthenticate", json={"password": PASSWORD})
    assert response.status_code == 204, response.text


async def delete_account(person: Person) -> dict[str, object]:
    await reauth(person)
    response = await person.http.delete("/api/v1/me")
    assert response.status_code == 202, response.text
    body: dict[str, object] = response.json()
    return body


async def test_deleting_needs_a_fresh_password(app: FastAPI, container: Container) -> None:
    owner = await instance_owner(app, container)
    pat = await member(app, owner)
    container.clock.advance(timedelta(minutes=11))  # type: ignore[attr-defined]
    response = await pat.http.delete("/api/v1/me")
    assert response.status_code == 401
    assert response.json()["code"] == "reauthentication_required"
    assert (await pat.http.get("/api/v1/me")).status_code == 200


async def test_the_account_stops_working_in_the_same_request(
    app: FastAPI, container: Container
) -> None:
    owner = await instance_owner(app, container)
    pat = await member(app, owner)
    token = await token_for(pat)
    body = await delete_account(pat)
    assert body["state"] == "closed"
    assert (await pat.http.get("/api/v1/me")).status_code == 401
    async with make_client(app) as other:
        bearer = await other.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert bearer.status_code == 401
        signin = await other.post(
            "/api/v1/auth/signin", json={"email": pat.email, "password": PASSWORD}
        )
        assert signin.status_code in (401, 403)
    async with container.db.transaction() as uow:
        jobs = list(await uow.session.scalars(select(Job).where(Job.name == "privacy.erase")))
    assert len(jobs) == 1 and jobs[0].state == "queued"
    assert jobs[0].run_after <= container.clock.now()


async def test_the_last_owner_cannot_leave_the_organisation_ownerless(
    app: FastAPI, container: Container
) -> None:
    owner = await instance_owner(app, container)
    await reauth(owner)
    response = await owner.http.delete("/api/v1/me")
    assert response.status_code == 409 and response.json()["code"] == "last_owner"


async def test_shared_conversations_keep_only_a_pseudonym_and_a_receipt_is_sent(
    app: FastAPI, container: Container
) -> None:
    owner = await instance_owner(app, container)
    pat = await member(app, owner)
    conversation = await direct(owner, pat)
    await say(pat, conversation, "pat wrote this")
    await say(owner, conversation, "owner answered")
    await delete_account(pat)
    assert await container.jobs.run_due() == 1
    history = await owner.http.get(f"/api/v1/conversations/{conversation}/messages")
    assert history.status_code == 200, history.text
    assert "pat wrote this" not in history.text and "owner answered" in history.text
    async with container.db.transaction() as uow:
        gone = await uow.session.scalar(select(User).where(User.id == pat.id))
        senders = set(await uow.session.scalars(select(Message.sender_id)))
        names = {
            u.id: u.name
            for u in await uow.session.scalars(select(User).where(User.id.in_(senders)))
        }
    assert gone is None
    assert owner.id in names and sorted(names.values())[0].startswith("Deleted user ")
    mails = await container.mailer.recent()
    receipt = next(m for m in mails if m.subject == "Your Parlour account is erased")
    assert receipt.to_addr == pat.email
    assert "messages.created_at" in receipt.body and "Deleted user" in receipt.body
    members = await owner.http.get(f"/api/v1/orgs/{owner.org_id}/members")
    listed = [(m["id"], m["status"]) for m in members.json()]
    # The tombstone is listed only so that old threads can name it: deleted, with its label.
    assert listed[0] == (owner.id, "active") and [s for _i, s in listed[1:]] == ["deleted"]
    assert pat.id not in members.text and pat.email not in members.text


async def test_a_legal_hold_defers_erasure_until_it_is_lifted(
    app: FastAPI, container: Container
) -> None:
    owner = await instance_owner(app, container)
    pat = await member(app, owner)
    outsider = await member(app, owner)
    path = f"/api/v1/orgs/{owner.org_id}/holds"
    refused = await outsider.http.post(path, json={"user_id": pat.id, "reason": "nosy"})
    assert refused.status_code == 404
    placed = await owner.http.post(path, json={"user_id": pat.id, "reason": "Case 2026-17"})
    assert placed.status_code == 201, placed.text
    await delete_account(pat)
    assert await container.jobs.run_due() == 1
    async with container.db.transaction() as uow:
        user = await uow.session.get(User, pat.id)
    assert user is not None and user.status == "closed"
    mails = await container.mailer.recent()
    assert any("Case 2026-17" in m.body for m in mails if m.to_addr == pat.email)
    lifted = await owner.http.delete(f"{path}/{placed.json()['id']}")
    assert lifted.status_code == 204
    assert await container.jobs.run_due() == 1
    async with container.db.transaction() as uow:
        assert await uow.session.get(User, pat.id) is None
        hold = await uow.session.scalar(select(LegalHold))
    assert hold is not None and hold.released_at is not None
