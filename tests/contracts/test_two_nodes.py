"""Two `parlour serve` processes on PostgreSQL and Redis act as one service."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
import redis

from tests.support.live import stream
from tests.support.server import ServerProcess, parlour_serve
from tests.support.services import POSTGRES_URL, missing
from tests.support.world import PASSWORD, signup_body

REDIS_URL = "redis://127.0.0.1:6379/0"
DATABASE = "parlour_two_nodes"


def _admin_dsn() -> str:
    return POSTGRES_URL.replace("postgresql+asyncpg://", "postgresql://")


async def _fresh_database() -> str:
    conn = await asyncpg.connect(_admin_dsn())
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        await conn.execute(f"CREATE DATABASE {DATABASE}")
    finally:
        await conn.close()
    base = POSTGRES_URL.rsplit("/", 1)[0]
    return f"{base}/{DATABASE}"


@pytest.fixture
def shared_backends() -> tuple[str, str]:
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except (redis.RedisError, OSError) as exc:
        missing("Redis", f"{REDIS_URL} did not answer ({type(exc).__name__})")
    try:
        database = asyncio.run(_fresh_database())
    except (OSError, asyncpg.PostgresError) as exc:
        missing("PostgreSQL", f"{_admin_dsn()} did not answer ({type(exc).__name__})")
    return database, REDIS_URL


@pytest.fixture
def nodes(
    shared_backends: tuple[str, str], tmp_path: Path
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    database, redis_url = shared_backends
    shared = {"database_url": database, "redis_url": redis_url}
    with (
        parlour_serve(tmp_path / "node1", **shared) as one,
        parlour_serve(tmp_path / "node2", **shared) as two,
    ):
        yield one, two


async def _owner_and_member(one: ServerProcess, two: ServerProcess) -> tuple[dict, dict, str]:
    link = one.setup_link or two.setup_link
    assert link is not None
    token = link.split("token=")[1]
    async with httpx.AsyncClient(base_url=one.url) as first:
        owner = await first.post("/api/v1/setup", json=signup_body(token=token, org_name="Nodes"))
        assert owner.status_code == 201, owner.text
        first.headers["X-CSRF-Token"] = owner.json()["csrf_token"]
        invite = await first.post(
            f"/api/v1/orgs/{owner.json()['user']['org_id']}/invitations", json={}
        )
        invitation = invite.json()["link"].split("invitation=")[1]
    async with httpx.AsyncClient(base_url=two.url) as second:
        joined = await second.post("/api/v1/auth/signup", json=signup_body(invitation=invitation))
        assert joined.status_code == 201, joined.text
    tokens = []
    for node, person in ((one, owner.json()["user"]), (two, joined.json()["user"])):
        async with httpx.AsyncClient(base_url=node.url) as client:
            made = await client.post(
                "/api/v1/auth/tokens",
                json={"email": person["email"], "password": PASSWORD, "name": "node test"},
            )
            tokens.append(made.json()["token"])
    return owner.json()["user"], joined.json()["user"], tokens[0] + " " + tokens[1]


@pytest.mark.promise("P-MSG-1")
async def test_a_message_sent_on_one_node_arrives_live_on_the_other(
    nodes: tuple[ServerProcess, ServerProcess],
) -> None:
    one, two = nodes
    owner, joined, tokens = await _owner_and_member(one, two)
    owner_token, member_token = tokens.split(" ")
    async with httpx.AsyncClient(
        base_url=two.url, headers={"Authorization": f"Bearer {member_token}"}
    ) as sender:
        chat = await sender.post(
            "/api/v1/conversations", json={"kind": "direct", "user_id": owner["id"]}
        )
        conversation_id = chat.json()["id"]
        async with stream(one.address, owner_token) as listener:
            sent = await sender.post(
                f"/api/v1/conversations/{conversation_id}/messages", json={"body": "across nodes"}
            )
            event = await listener.until("message.created", timeout=10)
            assert event["data"]["message"]["id"] == sent.json()["id"]
            assert event["data"]["message"]["body"] == "across nodes"
            # Typing is ephemeral and still crosses nodes.
            async with stream(two.address, member_token) as typist:
                await typist.send({"type": "typing", "conversation_id": conversation_id})
                typing = await listener.until("typing", timeout=10)
                assert typing["data"]["user_id"] == joined["id"]
