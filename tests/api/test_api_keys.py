"""Organisation API keys (P-API-1, P-API-2): shown once, stored hashed, scoped, expiring,
revocable, rate limited per key, every use counted and audited, and never reaching across
organisations (P-ADM-3)."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import websockets
from fastapi import FastAPI
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import select, text

from parlour.app import create_app
from parlour.container import Container
from parlour.core.clock import FixedClock
from parlour.core.errors import AppError, ErrorCode
from parlour.features.accounts.actor import Client
from parlour.features.apikeys.models import ApiKey
from parlour.settings import Settings
from tests.support.live import serving, stream
from tests.support.services import missing
from tests.support.world import (
    PASSWORD,
    Person,
    instance_owner,
    member,
    say,
    second_org,
)

REDIS_URL = os.environ.get("PARLOUR_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
ALL = ["messages:read", "messages:write", "calls:read", "members:read", "admin:read"]


def key_client(app: FastAPI, token: str) -> httpx.AsyncClient:
    """A program: no cookies, only the key."""
    transport = httpx.ASGITransport(app=app, client=("198.51.100.7", 41000))
    return httpx.AsyncClient(
        transport=transport,
        base_url="http://testserver",
        headers={"Authorization": f"Bearer {token}"},
    )


async def new_key(admin: Person, scopes: list[str], **extra: Any) -> dict[str, Any]:
    response = await admin.http.post(
        f"/api/v1/orgs/{admin.org_id}/api-keys",
        json={"name": "Ledger sync", "scopes": scopes, **extra},
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def group_with(person: Person, *user_ids: str) -> str:
    response = await person.http.post(
        "/api/v1/conversations",
        json={"kind": "group", "name": "Team", "member_ids": list(user_ids)},
    )
    assert response.status_code == 201, response.text
    conversation_id: str = response.json()["id"]
    return conversation_id


async def audit_actions(admin: Person) -> list[tuple[str, str, list[str]]]:
    response = await admin.http.get(f"/api/v1/orgs/{admin.org_id}/audit")
    assert response.status_code == 200, response.text
    return [(e["action"], e["actor_role"], e["fields"]) for e in response.json()["entries"]]


async def listed(admin: Person, key_id: str) -> dict[str, Any]:
    response = await admin.http.get(f"/api/v1/orgs/{admin.org_id}/api-keys")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = next(k for k in response.json() if k["id"] == key_id)
    return found


@pytest.fixture
async def owner(app: FastAPI, container: Container) -> AsyncIterator[Person]:
    person = await instance_owner(app, container)
    yield person
    await person.close()


@pytest.mark.promise("P-API-1")
async def test_a_key_is_shown_once_then_used_and_every_use_is_counted_and_audited(
    app: FastAPI, container: Container, owner: Person, clock: FixedClock
) -> None:
    created = await new_key(owner, ["messages:read", "messages:write"])
    token = created["key"]
    assert token.startswith(f"pk_{created['id']}_")
    assert created["state"] == "active" and created["last_used_at"] is None

    # Shown once: the list never holds it, and the database holds only a keyed hash.
    shown = await listed(owner, created["id"])
    assert "key" not in shown and shown["prefix"] == f"pk_{created['id']}"
    secret = token.split("_", 2)[2]
    async with container.db.transaction() as uow:
        row = await uow.session.get(ApiKey, created["id"])
        assert row is not None and secret not in row.secret_hash and len(row.secret_hash) == 64
        dump = " ".join(
            str(v) for v in (await uow.session.execute(text("SELECT * FROM api_keys"))).one()
        )
    assert secret not in dump

    # The key's bot is added to a group like anyone, then reads and sends there.
    bot = created["bot_user_id"]
    conversation = await group_with(owner, bot)
    await say(owner, conversation, "Sync when ready")
    async with key_client(app, token) as program:
        listing = await program.get("/api/v1/conversations")
        assert listing.status_code == 200, listing.text
        assert [c["id"] for c in listing.json()] == [conversation]
        history = await program.get(f"/api/v1/conversations/{conversation}/messages")
        assert [m["body"] for m in history.json()] == ["Sync when ready"]
        sent = await program.post(
            f"/api/v1/conversations/{conversation}/messages", json={"body": "Synced 12 contacts"}
        )
        assert sent.status_code == 201, sent.text
    assert sent.json()["sender_id"] == bot
    seen = await owner.http.get(f"/api/v1/conversations/{conversation}/messages")
    assert seen.json()[0]["sender_id"] == bot
    people = await owner.http.get(f"/api/v1/orgs/{owner.org_id}/members")
    assert {"id": bot, "name": "Ledger sync (bot)"}.items() <= next(
        p for p in people.json() if p["id"] == bot
    ).items()

    # last_used_at is written, at most once a minute.
    first_use = (await listed(owner, created["id"]))["last_used_at"]
    assert first_use is not None
    clock.advance(timedelta(seconds=30))
    async with key_client(app, token) as program:
        assert (await program.get("/api/v1/conversations")).status_code == 200
    assert (await listed(owner, created["id"]))["last_used_at"] == first_use
    clock.advance(timedelta(seconds=31))
    async with key_client(app, token) as program:
        assert (await program.get("/api/v1/conversations")).status_code == 200
    assert (await listed(owner, created["id"]))["last_used_at"] != first_use

    # Every request is counted per minute; the audit log has one entry per key and minute.
    usage = await owner.http.get(f"/api/v1/orgs/{owner.org_id}/api-keys/{created['id']}/usage")
    assert [(u["requests"], u["refused"]) for u in usage.json()] == [(4, 0), (1, 0)]
    actions = await audit_actions(owner)
    assert actions.count(("api_key.used", "api_key", ["requests"])) == 2
    assert ("api_key.create", "owner", ["messages:read", "messages:write"]) in actions
    assert (await container.audit.verify()).broken is None
    page = await owner.http.get("/org/privacy/audit")
    assert "Made an API key" in page.text and "Used its API key" in page.text
    assert "Ledger sync (bot)" in page.text  # the key's uses are shown under its bot's name


@pytest.mark.promise("P-API-2")
async def test_requests_beyond_the_keys_scopes_are_refused_with_403_naming_the_scope(
    app: FastAPI, owner: Person
) -> None:
    created = await new_key(owner, ["messages:read"])
    conversation = await group_with(owner, created["bot_user_id"])
    async with key_client(app, created["key"]) as program:
        assert (await program.get(f"/api/v1/conversations/{conversation}")).status_code == 200
        refused = {
            "messages:write": await program.post(
                f"/api/v1/conversations/{conversation}/messages", json={"body": "hi"}
            ),
            "calls:read": await program.get("/api/v1/calls"),
            "members:read": await program.get(f"/api/v1/orgs/{owner.org_id}/members"),
            "admin:read": await program.get(f"/api/v1/orgs/{owner.org_id}/audit"),
        }
        for scope, response in refused.items():
            assert response.status_code == 403, (scope, response.text)
            problem = response.json()
            assert problem["code"] == "insufficient_scope"
            assert scope in problem["detail"] and problem["required_scope"] == scope
        # Endpoints that are not open to keys at all: a person's own, managing, and pages.
        for path in ("/api/v1/me", f"/api/v1/orgs/{owner.org_id}/api-keys", "/org"):
            response = await program.get(path)
            assert response.status_code == 403, (path, response.text)
            assert "insufficient_scope" in response.text
        denied = await program.patch(f"/api/v1/orgs/{owner.org_id}", json={"name": "Mine"})
        assert denied.status_code == 403
    history = await owner.http.get(f"/api/v1/conversations/{conversation}/messages")
    assert history.json() == []  # nothing was sent
    usage = await owner.http.get(f"/api/v1/orgs/{owner.org_id}/api-keys/{created['id']}/usage")
    assert [(u["requests"], u["refused"]) for u in usage.json()] == [(1, 8)]
    actions = await audit_actions(owner)
    assert ("api_key.refused", "api_key", ["scope"]) in actions


@pytest.mark.promise("P-API-2")
async def test_a_key_with_the_scopes_reads_members_calls_usage_and_the_audit_log(
    app: FastAPI, owner: Person
) -> None:
    created = await new_key(owner, ALL)
    async with key_client(app, created["key"]) as program:
        for path in (
            f"/api/v1/orgs/{owner.org_id}/members",
            f"/api/v1/orgs/{owner.org_id}/audit",
            f"/api/v1/orgs/{owner.org_id}/usage/messages",
            "/api/v1/calls",
        ):
            response = await program.get(path)
            assert response.status_code == 200, (path, response.text)
        # Even with every scope, a key is no admin: it cannot change the organisation.
        change = await program.patch(
            f"/api/v1/orgs/{owner.org_id}/members/{owner.id}", json={"role": "member"}
        )
        assert change.status_code == 403


@pytest.mark.promise("P-API-1")
async def test_expired_revoked_and_wrong_keys_are_refused_with_clear_codes_and_audited(
    app: FastAPI, owner: Person, clock: FixedClock
) -> None:
    soon = (clock.now() + timedelta(hours=1)).isoformat()
    expiring = await new_key(owner, ["messages:read"], expires_at=soon)
    revoked = await new_key(owner, ["messages:read"])
    async with key_client(app, expiring["key"]) as program:
        assert (await program.get("/api/v1/conversations")).status_code == 200
        clock.advance(timedelta(hours=2))
        response = await program.get("/api/v1/conversations")
    assert response.status_code == 401
    assert response.json()["code"] == "api_key_expired"
    assert (await listed(owner, expiring["id"]))["state"] == "expired"

    gone = await owner.http.delete(f"/api/v1/orgs/{owner.org_id}/api-keys/{revoked['id']}")
    assert gone.status_code == 204
    async with key_client(app, revoked["key"]) as program:
        response = await program.get("/api/v1/conversations")
    assert response.status_code == 401 and response.json()["code"] == "api_key_revoked"
    state = await listed(owner, revoked["id"])
    assert state["state"] == "revoked" and state["revoked_at"] is not None

    wrong = revoked["key"][:-4] + "AAAA"
    for token in (wrong, "pk_nothing", f"pk_{'0' * 32}_secret"):
        async with key_client(app, token) as program:
            response = await program.get("/api/v1/conversations")
        assert response.status_code == 401 and response.json()["code"] == "unauthenticated"

    actions = await audit_actions(owner)
    assert ("api_key.refused", "api_key", ["expired"]) in actions
    assert ("api_key.refused", "api_key", ["revoked"]) in actions
    assert ("api_key.revoke", "owner", ["api_key"]) in actions
    # The bot of a revoked key can no longer be added anywhere: it is suspended.
    people = await owner.http.get(f"/api/v1/orgs/{owner.org_id}/members")
    bot = next(p for p in people.json() if p["id"] == revoked["bot_user_id"])
    assert bot["status"] == "suspended"


@pytest.mark.promise("P-API-1")
async def test_nobody_signs_in_as_a_keys_bot(
    app: FastAPI, container: Container, owner: Person
) -> None:
    created = await new_key(owner, ["messages:read"])
    people = await owner.http.get(f"/api/v1/orgs/{owner.org_id}/members")
    email = next(p for p in people.json() if p["id"] == created["bot_user_id"])["email"]
    assert email.endswith("@api-keys.invalid")  # a reserved domain: no mail reaches it
    response = await owner.http.post(
        "/api/v1/auth/tokens", json={"email": email, "password": PASSWORD, "name": "x"}
    )
    assert response.status_code == 422  # not even an address one may sign in with
    with pytest.raises(AppError) as refused:  # and past the schema: it has no password
        await container.accounts.sign_in(email, PASSWORD, Client("198.51.100.0", None))
    assert refused.value.code == ErrorCode.INVALID_CREDENTIALS


@pytest.mark.promise("P-API-1")
async def test_bad_key_requests_are_refused_with_named_fields(owner: Person) -> None:
    url = f"/api/v1/orgs/{owner.org_id}/api-keys"
    response = await owner.http.post(url, json={"name": " ", "scopes": ["messages:fly"]})
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {"name", "scopes.0"}
    past = "2020-01-01T00:00:00Z"
    response = await owner.http.post(
        url, json={"name": "x", "scopes": ["messages:read"], "expires_at": past}
    )
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["expires_at"]


async def _limited(app: FastAPI, token: str, conversation: str) -> list[httpx.Response]:
    async with key_client(app, token) as program:
        return [await program.get(f"/api/v1/conversations/{conversation}") for _ in range(4)]


@pytest.mark.promise("P-API-1")
async def test_a_key_over_its_rate_is_refused_with_retry_after(
    settings: Settings, clock: FixedClock
) -> None:
    clock.advance(timedelta(seconds=15))  # 45 seconds are left in the minute
    limited = settings.model_copy(update={"api_key_rate_per_minute": 3})
    app = create_app(limited, clock)
    async with app.router.lifespan_context(app):
        owner = await instance_owner(app, app.state.container)
        created = await new_key(owner, ["messages:read"])
        conversation = await group_with(owner, created["bot_user_id"])
        answers = await _limited(app, created["key"], conversation)
        assert [r.status_code for r in answers] == [200, 200, 200, 429]
        over = answers[-1]
        assert over.headers["Retry-After"] == "45"
        assert over.json()["code"] == "rate_limited" and over.json()["retry_after"] == 45
        other = await new_key(owner, ["messages:read"])  # the limit is per key
        async with key_client(app, other["key"]) as program:
            assert (await program.get("/api/v1/conversations")).status_code == 200
        clock.advance(timedelta(seconds=45))
        async with key_client(app, created["key"]) as program:
            assert (await program.get(f"/api/v1/conversations/{conversation}")).status_code == 200
        usage = await owner.http.get(f"/api/v1/orgs/{owner.org_id}/api-keys/{created['id']}/usage")
        assert [(u["requests"], u["refused"]) for u in usage.json()] == [(3, 1), (1, 0)]
        assert ("api_key.refused", "api_key", ["rate_limited"]) in await audit_actions(owner)
        await owner.close()


@pytest.mark.promise("P-API-1")
async def test_the_rate_limit_holds_across_processes_sharing_redis(
    settings: Settings, clock: FixedClock
) -> None:
    probe = Redis.from_url(REDIS_URL)
    try:
        await probe.ping()
    except (RedisError, OSError) as exc:
        missing("Redis", f"{REDIS_URL} did not answer ({type(exc).__name__})")
    finally:
        await probe.aclose()
    shared = settings.model_copy(update={"redis_url": REDIS_URL, "api_key_rate_per_minute": 3})
    one, two = create_app(shared, clock), create_app(shared, clock)
    async with one.router.lifespan_context(one), two.router.lifespan_context(two):
        owner = await instance_owner(one, one.state.container)
        created = await new_key(owner, ["messages:read"])
        async with key_client(one, created["key"]) as a, key_client(two, created["key"]) as b:
            codes = [
                (await client.get("/api/v1/conversations")).status_code for client in (a, b, a, b)
            ]
        assert codes == [200, 200, 200, 429]
        await owner.close()


@pytest.mark.promise("P-ADM-3")
@pytest.mark.promise("P-API-2")
async def test_an_admin_never_sees_or_uses_another_organisations_keys(
    app: FastAPI, owner: Person
) -> None:
    theirs = await new_key(owner, ALL)
    conversation = await group_with(owner, theirs["bot_user_id"])
    message = await say(owner, conversation, "only for A")
    other = await second_org(app, owner, "Globex")
    admin_b = await member(app, other, "admin")
    plain_member = await member(app, owner)
    a_keys = f"/api/v1/orgs/{owner.org_id}/api-keys"
    for person in (other, admin_b):
        assert (await person.http.get(a_keys)).status_code == 404
        assert (
            await person.http.post(a_keys, json={"name": "x", "scopes": ALL})
        ).status_code == 404
        assert (await person.http.delete(f"{a_keys}/{theirs['id']}")).status_code == 404
        assert (await person.http.get(f"{a_keys}/{theirs['id']}/usage")).status_code == 404
        own = f"/api/v1/orgs/{person.org_id}/api-keys"
        assert (await person.http.delete(f"{own}/{theirs['id']}")).status_code == 404
        page = await person.http.get("/org/api-keys")
        i = page.text.find(theirs["id"])
        assert i < 0, page.text[i - 300 : i + 100]
        assert "Ledger sync" not in page.text
    # A member of A is no admin: refused, and nothing is listed.
    assert (await plain_member.http.get(a_keys)).status_code == 403
    # B's key, with every scope, reaches nothing of A.
    mine = await new_key(other, ALL)
    async with key_client(app, mine["key"]) as program:
        for path in (
            f"/api/v1/conversations/{conversation}",
            f"/api/v1/conversations/{conversation}/messages",
            f"/api/v1/orgs/{owner.org_id}/members",
            f"/api/v1/orgs/{owner.org_id}/audit",
            f"/api/v1/orgs/{owner.org_id}/usage/messages",
        ):
            response = await program.get(path)
            assert response.status_code == 404, (path, response.text)
        listing = await program.get("/api/v1/conversations")
        assert listing.json() == [] and "only for A" not in listing.text
        edit = await program.patch(f"/api/v1/messages/{message['id']}", json={"body": "x"})
        assert edit.status_code == 404
    # A's key still works: nothing of B's touched it.
    async with key_client(app, theirs["key"]) as program:
        assert (await program.get(f"/api/v1/conversations/{conversation}")).status_code == 200
    for person in (other, admin_b, plain_member):
        await person.close()


@pytest.mark.promise("P-API-1")
async def test_the_keys_page_shows_a_new_key_once_and_revokes(
    app: FastAPI, container: Container, owner: Person
) -> None:
    org = await owner.http.get("/org")
    assert 'href="/org/api-keys"' in org.text
    page = await owner.http.get("/org/api-keys")
    assert page.status_code == 200
    csrf = owner.http.headers["X-CSRF-Token"]
    form = {
        "csrf_token": csrf,
        "name": "Deploy bot",
        "scopes": ["messages:write"],
        "expires_in_days": "30",
    }
    created = await owner.http.post("/org/api-keys", data=form)
    assert created.status_code == 201, created.text
    async with container.db.transaction() as uow:
        key = (await uow.session.scalars(select(ApiKey))).one()
    assert f"pk_{key.id}_" in created.text
    again = await owner.http.get("/org/api-keys")
    assert "Deploy bot" in again.text and f"pk_{key.id}_…" in again.text
    assert f'value="pk_{key.id}_' not in again.text
    bad = await owner.http.post(
        "/org/api-keys", data={"csrf_token": csrf, "name": "x", "expires_in_days": "30"}
    )
    assert bad.status_code == 422 and "Choose at least one scope." in bad.text
    revoked = await owner.http.post(
        f"/org/api-keys/{key.id}/revoke", data={"csrf_token": csrf}, follow_redirects=True
    )
    assert revoked.status_code == 200 and "Revoked" in revoked.text


async def _refused_stream(address: str, token: str) -> tuple[dict[str, Any], int]:
    headers = {"Authorization": f"Bearer {token}"}
    async with websockets.connect(
        f"ws://{address}/api/v1/stream", additional_headers=headers
    ) as ws:
        frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 5))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None
    return frame, closed.value.rcvd.code


@pytest.mark.promise("P-API-2")
async def test_a_key_listens_to_the_stream_only_with_messages_read(
    app: FastAPI, owner: Person, clock: FixedClock
) -> None:
    reader = await new_key(owner, ["messages:read"])
    writer = await new_key(owner, ["messages:write"])
    conversation = await group_with(owner, reader["bot_user_id"], writer["bot_user_id"])
    async with serving(app) as address:
        async with stream(address, reader["key"]) as listening:
            await say(owner, conversation, "Deploy finished")
            created = await listening.until("message.created")
            assert created["data"]["message"]["body"] == "Deploy finished"
        frame, code = await _refused_stream(address, writer["key"])
        assert frame["code"] == "insufficient_scope" and code == 4403
        assert "messages:read" in frame["detail"]
        await owner.http.delete(f"/api/v1/orgs/{owner.org_id}/api-keys/{reader['id']}")
        frame, code = await _refused_stream(address, reader["key"])
        assert frame["code"] == "api_key_revoked" and code == 4401
    usage = await owner.http.get(f"/api/v1/orgs/{owner.org_id}/api-keys/{reader['id']}/usage")
    assert [(u["requests"], u["refused"]) for u in usage.json()] == [(1, 1)]
