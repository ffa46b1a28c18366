"""Conversations and messages through the public API."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from parlour.container import Container
from parlour.features.chat.models import MessageUsage
from tests.support.world import Person, direct, instance_owner, member, say


async def trio(app: FastAPI, container: Container) -> tuple[Person, Person, Person]:
    owner = await instance_owner(app, container)
    return owner, await member(app, owner), await member(app, owner)


@pytest.mark.promise("P-MSG-1")
async def test_direct_conversation_is_one_per_pair(app: FastAPI, container: Container) -> None:
    a, b, _ = await trio(app, container)
    first = await direct(a, b)
    assert await direct(b, a) == first
    listed = (await b.http.get("/api/v1/conversations")).json()
    assert [c["id"] for c in listed] == [first]
    assert {m["user_id"] for m in listed[0]["members"]} == {a.id, b.id}


@pytest.mark.promise("P-MSG-1")
async def test_replies_reactions_edits_and_deletes(app: FastAPI, container: Container) -> None:
    a, b, _ = await trio(app, container)
    cid = await direct(a, b)
    first = await say(a, cid, "Lunch at **noon**?")
    assert first["html"] == "Lunch at <strong>noon</strong>?"
    reply = await say(b, cid, "Yes", reply_to=first["id"])
    assert reply["reply_to"] == first["id"]

    reacted = (await b.http.put(f"/api/v1/messages/{first['id']}/reactions/👍")).json()
    assert reacted["reactions"] == [{"emoji": "👍", "user_ids": [b.id]}]

    edited = await a.http.patch(f"/api/v1/messages/{first['id']}", json={"body": "Lunch at 1?"})
    assert edited.json()["edited"] is True and edited.json()["body"] == "Lunch at 1?"
    assert (
        await b.http.patch(f"/api/v1/messages/{first['id']}", json={"body": "x"})
    ).status_code == 403

    deleted = (await a.http.delete(f"/api/v1/messages/{first['id']}")).json()
    assert deleted["deleted"] is True and deleted["body"] is None and deleted["html"] is None
    history = (await b.http.get(f"/api/v1/conversations/{cid}/messages")).json()
    assert [m["id"] for m in history] == [reply["id"], first["id"]]
    assert history[1]["body"] is None and history[1]["deleted"] is True


@pytest.mark.promise("P-MSG-1")
async def test_history_pages_backwards_with_a_cursor(app: FastAPI, container: Container) -> None:
    a, b, _ = await trio(app, container)
    cid = await direct(a, b)
    sent = [(await say(a, cid, f"message {i}"))["id"] for i in range(25)]
    seen: list[int] = []
    before = None
    while True:
        query = "?limit=10" + (f"&before={before}" if before else "")
        page = (await b.http.get(f"/api/v1/conversations/{cid}/messages{query}")).json()
        if not page:
            break
        seen += [m["id"] for m in page]
        before = page[-1]["id"]
    assert seen == list(reversed(sent))


@pytest.mark.promise("P-MSG-1")
async def test_unread_counts_and_read_markers(app: FastAPI, container: Container) -> None:
    a, b, _ = await trio(app, container)
    cid = await direct(a, b)
    ids = [(await say(a, cid, f"hi {i}"))["id"] for i in range(3)]
    [view] = (await b.http.get("/api/v1/conversations")).json()
    assert view["unread"] == 3
    assert (
        await b.http.post(f"/api/v1/conversations/{cid}/read", json={"message_id": ids[1]})
    ).status_code == 204
    [view] = (await b.http.get("/api/v1/conversations")).json()
    assert view["unread"] == 1
    others = {m["user_id"]: m["read_message_id"] for m in view["members"]}
    assert others[b.id] == ids[1]
    [mine] = (await a.http.get("/api/v1/conversations")).json()
    assert mine["unread"] == 0


async def test_groups_have_admins_and_membership_changes(
    app: FastAPI, container: Container
) -> None:
    a, b, c = await trio(app, container)
    response = await a.http.post(
        "/api/v1/conversations", json={"kind": "group", "name": "Team", "member_ids": [b.id]}
    )
    assert response.status_code == 201
    gid = response.json()["id"]
    assert (
        await b.http.post(f"/api/v1/conversations/{gid}/members", json={"user_ids": [c.id]})
    ).status_code == 403
    assert (
        await a.http.post(f"/api/v1/conversations/{gid}/members", json={"user_ids": [c.id]})
    ).status_code == 204
    await say(c, gid, "hello team")
    assert (await a.http.delete(f"/api/v1/conversations/{gid}/members/{c.id}")).status_code == 204
    response = await c.http.post(
        f"/api/v1/conversations/{gid}/messages", json={"body": "still here?"}
    )
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    # The last admin leaving hands the group on.
    assert (await a.http.delete(f"/api/v1/conversations/{gid}/members/{a.id}")).status_code == 204
    view = (await b.http.get(f"/api/v1/conversations/{gid}")).json()
    assert view["role"] == "admin"


async def test_bad_input_fails_alone_with_clear_problems(
    app: FastAPI, container: Container
) -> None:
    a, b, _ = await trio(app, container)
    cid = await direct(a, b)
    too_long = await a.http.post(
        f"/api/v1/conversations/{cid}/messages", json={"body": "x" * 10_001}
    )
    assert too_long.status_code == 413 and too_long.json()["code"] == "payload_too_large"
    blank = await a.http.post(f"/api/v1/conversations/{cid}/messages", json={"body": "   "})
    assert blank.status_code == 422 and blank.json()["errors"][0]["field"] == "body"
    unknown = await a.http.post("/api/v1/conversations/nope/messages", json={"body": "hi"})
    assert unknown.status_code == 404
    bad_reply = await a.http.post(
        f"/api/v1/conversations/{cid}/messages", json={"body": "hi", "reply_to": 999999}
    )
    assert bad_reply.status_code == 422
    assert (await b.http.get(f"/api/v1/conversations/{cid}/messages")).json() == []


async def test_idempotency_key_never_duplicates(app: FastAPI, container: Container) -> None:
    a, b, _ = await trio(app, container)
    cid = await direct(a, b)
    url = f"/api/v1/conversations/{cid}/messages"
    key = {"Idempotency-Key": "retry-1"}
    first = await a.http.post(url, json={"body": "once"}, headers=key)
    again = await a.http.post(url, json={"body": "once"}, headers=key)
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    clash = await a.http.post(url, json={"body": "other"}, headers=key)
    assert clash.status_code == 409 and clash.json()["code"] == "conflict"
    assert len((await b.http.get(url)).json()) == 1


@pytest.mark.promise("P-MSG-6")
async def test_a_blocked_user_learns_only_not_delivered(app: FastAPI, container: Container) -> None:
    a, b, _ = await trio(app, container)
    cid = await direct(a, b)
    assert (await b.http.put(f"/api/v1/me/blocks/{a.id}")).status_code == 204
    response = await a.http.post(f"/api/v1/conversations/{cid}/messages", json={"body": "hello?"})
    assert response.status_code == 403
    assert response.json()["code"] == "not_delivered"
    assert "block" not in response.text.lower()
    assert (await b.http.get(f"/api/v1/conversations/{cid}/messages")).json() == []
    # Nor can they pull the blocker into a new group.
    group = await a.http.post(
        "/api/v1/conversations", json={"kind": "group", "name": "G", "member_ids": [b.id]}
    )
    assert group.status_code == 403 and group.json()["code"] == "not_delivered"
    # Unblocking restores it.
    assert (await b.http.delete(f"/api/v1/me/blocks/{a.id}")).status_code == 204
    await say(a, cid, "hello again")
    assert [x["user_id"] for x in (await b.http.get("/api/v1/me/blocks")).json()] == []


@pytest.mark.promise("P-MSG-6")
async def test_contacts_groups_and_broadcast_lists(app: FastAPI, container: Container) -> None:
    a, b, c = await trio(app, container)
    saved = await a.http.put(f"/api/v1/me/contacts/{b.id}", json={"nickname": "Bee"})
    assert saved.json()["nickname"] == "Bee"
    assert [x["user_id"] for x in (await a.http.get("/api/v1/me/contacts")).json()] == [b.id]
    response = await a.http.post(
        "/api/v1/conversations",
        json={"kind": "broadcast", "name": "News", "member_ids": [b.id, c.id]},
    )
    lid = response.json()["id"]
    await say(a, lid, "Office closed Friday")
    refused = await b.http.post(f"/api/v1/conversations/{lid}/messages", json={"body": "me too"})
    assert refused.status_code == 403
    for person in (b, c):
        chats = (await person.http.get("/api/v1/conversations")).json()
        [private] = [x for x in chats if x["kind"] == "direct"]
        assert private["last_message"]["body"] == "Office closed Friday"
    # A reply goes to the private chat, which the other recipient never sees.
    bid = await direct(b, a)
    await say(b, bid, "Thanks!")
    c_chats = (await c.http.get("/api/v1/conversations")).json()
    assert all(x["last_message"]["body"] != "Thanks!" for x in c_chats if x["last_message"])
    assert (await a.http.delete(f"/api/v1/me/contacts/{b.id}")).status_code == 204


async def test_search_finds_only_readable_living_messages(
    app: FastAPI, container: Container
) -> None:
    a, b, c = await trio(app, container)
    ab = await direct(a, b)
    bc = await direct(b, c)
    kept = await say(a, ab, "the quarterly roadmap draft")
    gone = await say(a, ab, "roadmap secret plan")
    await say(c, bc, "roadmap for b and c only")
    await a.http.delete(f"/api/v1/messages/{gone['id']}")
    found = (await a.http.get("/api/v1/search?q=roadm")).json()
    assert [m["id"] for m in found] == [kept["id"]]
    assert (await a.http.get("/api/v1/search?q=secret")).json() == []
    assert (await a.http.get('/api/v1/search?q=" OR *')).status_code == 200


@pytest.mark.promise("P-CALL-3")
async def test_usage_records_count_messages_without_content(
    app: FastAPI, container: Container
) -> None:
    a, b, c = await trio(app, container)
    cid = await direct(a, b)
    await say(a, cid, "héllo")
    await b.http.put(f"/api/v1/me/blocks/{a.id}")
    await a.http.post(f"/api/v1/conversations/{cid}/messages", json={"body": "are you there"})
    usage = await a.http.get(f"/api/v1/orgs/{a.org_id}/usage/messages")
    assert usage.status_code == 200
    rows = usage.json()
    assert [(r["status"], r["size_bytes"], r["recipients"]) for r in rows] == [
        ("delivered", len("héllo".encode()), 1),
        ("not_delivered", len("are you there"), 1),
    ]
    assert rows[0]["sender_id"] == a.id and rows[0]["conversation_id"] == cid
    assert "héllo" not in usage.text and "are you there" not in usage.text
    assert set(MessageUsage.__table__.columns.keys()).isdisjoint({"body", "content", "text"})
    assert (await c.http.get(f"/api/v1/orgs/{a.org_id}/usage/messages")).status_code == 403
    async with container.db.transaction() as uow:
        assert len((await uow.session.scalars(select(MessageUsage))).all()) == 2
