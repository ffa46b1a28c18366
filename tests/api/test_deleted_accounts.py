"""Closed and erased accounts are shown as "Deleted user 7f3a" everywhere, never as a 500.

An account is closed from DELETE /me until its erasure job runs (a day at most, or as long as a
legal hold lasts); erasure then leaves a tombstone account that the person's old messages point
at. Both are rendered by one rule (`parlour.features.accounts.display`): the label, status
"deleted", and nothing else about the person.
"""

from __future__ import annotations

from html import unescape

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from parlour.container import Container
from parlour.features.accounts.display import deleted_label
from parlour.features.accounts.models import User
from parlour.features.chat.models import Message
from parlour.settings import Settings
from tests.api.test_pages import signed_in_browser
from tests.support.world import PASSWORD, Person, direct, instance_owner, member, say

pytestmark = pytest.mark.promise("P-RIGHTS-4")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"worker_in_process": False})


async def name_of(viewer: Person, user_id: str) -> str:
    response = await viewer.http.get(f"/api/v1/users/{user_id}")
    assert response.status_code == 200, response.text
    name: str = response.json()["name"]
    return name


async def close_account(person: Person) -> None:
    confirm = await person.http.post("/api/v1/auth/reauthenticate", json={"password": PASSWORD})
    assert confirm.status_code == 204, confirm.text
    response = await person.http.delete("/api/v1/me")
    assert response.status_code == 202, response.text


def assert_deleted(user: dict[str, object], user_id: str) -> None:
    assert user["id"] == user_id
    assert user["name"] == deleted_label(user_id) and user["status"] == "deleted"
    for field in ("email", "phone", "title", "department", "location", "created_at"):
        assert user[field] is None, field
    assert user["has_avatar"] is False and user["role"] == "member"


async def seen_by(viewer: Person, user_id: str, real_name: str) -> None:
    """Every API view of one person: the profile and the organisation's member list."""
    profile = await viewer.http.get(f"/api/v1/users/{user_id}")
    assert profile.status_code == 200, profile.text
    assert_deleted(profile.json(), user_id)
    listed = await viewer.http.get(f"/api/v1/orgs/{viewer.org_id}/members")
    assert listed.status_code == 200, listed.text
    (entry,) = [u for u in listed.json() if u["id"] == user_id]
    assert_deleted(entry, user_id)
    assert listed.json()[-1]["id"] == user_id, "deleted accounts come last"
    assert real_name not in listed.text
    picture = await viewer.http.get(f"/api/v1/users/{user_id}/avatar")
    assert picture.status_code == 404


async def test_a_closed_account_renders_for_colleagues_and_admins(
    app: FastAPI, container: Container
) -> None:
    owner = await instance_owner(app, container)
    admin = await member(app, owner, "admin")
    pat = await member(app, owner)
    colleague = await member(app, owner)
    real_name = await name_of(colleague, pat.id)
    await say(pat, await direct(pat, colleague), "before I go")
    await close_account(pat)
    for viewer in (colleague, admin, owner):
        await seen_by(viewer, pat.id, real_name)
    # Reactivating it would undo the person's request: the admin's changes are refused.
    base = f"/api/v1/orgs/{owner.org_id}/members/{pat.id}"
    for change in ({"status": "active"}, {"role": "admin"}):
        refused = await admin.http.patch(base, json=change)
        assert refused.status_code == 409 and refused.json()["code"] == "conflict", refused.text
    reset = await admin.http.post(f"{base}/password-reset")
    assert reset.status_code == 409
    async with container.db.transaction() as uow:
        user = await uow.session.get(User, pat.id)
        assert user is not None and user.status == "closed" and user.role == "member"


async def test_an_account_closed_under_a_legal_hold_still_renders(
    app: FastAPI, container: Container
) -> None:
    owner = await instance_owner(app, container)
    pat = await member(app, owner)
    colleague = await member(app, owner)
    real_name = await name_of(colleague, pat.id)
    hold = await owner.http.post(
        f"/api/v1/orgs/{owner.org_id}/holds", json={"user_id": pat.id, "reason": "Case 12"}
    )
    assert hold.status_code == 201, hold.text
    await close_account(pat)
    assert await container.jobs.run_due() == 1  # the erasure waits for the hold
    for viewer in (colleague, owner):
        await seen_by(viewer, pat.id, real_name)
    holds = await owner.http.get(f"/api/v1/orgs/{owner.org_id}/holds")
    assert holds.status_code == 200 and holds.json()[0]["user_id"] == pat.id


async def test_the_sender_of_erased_messages_renders_as_its_label(
    app: FastAPI, container: Container
) -> None:
    owner = await instance_owner(app, container)
    pat = await member(app, owner)
    colleague = await member(app, owner)
    real_name = await name_of(colleague, pat.id)
    conversation = await direct(pat, colleague)
    await say(pat, conversation, "kept for the thread")
    await close_account(pat)
    assert await container.jobs.run_due() == 1
    async with container.db.transaction() as uow:
        senders = set(await uow.session.scalars(select(Message.sender_id)))
        tombstone = await uow.session.get(User, senders.pop())
    assert tombstone is not None and tombstone.status == "erased"
    # The tombstone's stored name and every rendering of it are the one label.
    assert tombstone.name == deleted_label(tombstone.id)
    for viewer in (colleague, owner):
        await seen_by(viewer, tombstone.id, real_name)
    assert (await colleague.http.get(f"/api/v1/users/{pat.id}")).status_code == 404


async def test_the_pages_show_deleted_accounts_by_their_label(
    app: FastAPI, container: Container
) -> None:
    owner = await instance_owner(app, container)
    pat = await member(app, owner)
    gone = await member(app, owner)
    real_names = [await name_of(owner, p.id) for p in (pat, gone)]
    await say(gone, await direct(gone, owner), "hello")
    hold = await owner.http.post(
        f"/api/v1/orgs/{owner.org_id}/holds", json={"user_id": pat.id, "reason": "Case 12"}
    )
    assert hold.status_code == 201
    await close_account(pat)  # held: it stays closed
    await close_account(gone)  # erased by the job
    assert await container.jobs.run_due() == 2
    http = await signed_in_browser(app, owner.email)
    pages = {}
    for path in ("/org", "/org/privacy/holds", "/org/privacy/audit", "/chat"):
        response = await http.get(path)
        assert response.status_code == 200, (path, response.text[:500])
        pages[path] = unescape(response.text)
    assert "Deleted accounts (2)" in pages["/org"] and deleted_label(pat.id) in pages["/org"]
    assert "Members (1)" in pages["/org"]
    assert deleted_label(pat.id) in pages["/org/privacy/holds"]
    assert deleted_label(pat.id) in pages["/org/privacy/audit"]  # the subject of the hold
    for text in pages.values():
        assert not any(name in text for name in real_names)


@pytest.mark.promise("P-CALL-2")
async def test_the_call_history_names_a_closed_account_by_the_label(
    app: FastAPI, container: Container
) -> None:
    caller = await instance_owner(app, container)
    pat = await member(app, caller)
    real_name = await name_of(caller, pat.id)
    cid = await direct(caller, pat)
    started = await caller.http.post(
        "/api/v1/calls", json={"conversation_id": cid, "media": "audio", "device_id": "d" * 32}
    )
    assert started.status_code == 201, started.text
    call_id = started.json()["id"]
    await caller.http.post(f"/api/v1/calls/{call_id}/hangup", json={})
    await close_account(pat)
    one = await caller.http.get(f"/api/v1/calls/{call_id}")
    history = await caller.http.get("/api/v1/calls", params={"conversation_id": cid})
    assert one.status_code == 200 and history.status_code == 200, history.text
    for call in (one.json(), history.json()[0]):
        names = {p["user_id"]: p["display_name"] for p in call["participants"]}
        assert names[pat.id] == deleted_label(pat.id)
    assert real_name not in one.text + history.text
