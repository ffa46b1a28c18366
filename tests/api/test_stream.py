"""The event stream over a real WebSocket: live delivery, resume without gaps, bad frames."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from typing import Any

import pytest
import websockets
from fastapi import FastAPI
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import delete

from parlour.app import create_app
from parlour.container import Container
from parlour.core.clock import FixedClock
from parlour.features.chat.events import EventLog
from parlour.features.chat.models import Event
from parlour.features.chat.stream import StreamSession
from parlour.realtime.bus import Overflow
from parlour.settings import Settings
from tests.api.test_problems import LIBRARY_PHRASES
from tests.support.live import serving, stream
from tests.support.services import missing
from tests.support.world import Person, direct, instance_owner, member, say, token_for

REDIS_URL = os.environ.get("PARLOUR_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


async def pair(app: FastAPI, container: Container) -> tuple[Person, Person, str]:
    a = await instance_owner(app, container)
    b = await member(app, a)
    return a, b, await direct(a, b)


@pytest.mark.promise("P-MSG-1")
async def test_a_message_reaches_the_other_member_live(app: FastAPI, container: Container) -> None:
    a, b, cid = await pair(app, container)
    async with serving(app) as address, stream(address, await token_for(b)) as live:
        sent = await say(a, cid, "ping *now*")
        event = await live.until("message.created")
        assert event["conversation_id"] == cid
        assert event["data"]["message"]["id"] == sent["id"]
        assert event["data"]["message"]["html"] == "ping <em>now</em>"


@pytest.mark.promise("P-MSG-1")
async def test_every_open_device_gets_edits_deletes_reactions_and_reads(
    app: FastAPI, container: Container
) -> None:
    a, b, cid = await pair(app, container)
    token = await token_for(b)
    async with (
        serving(app) as address,
        stream(address, token) as phone,
        stream(address, token) as laptop,
    ):
        sent = await say(a, cid, "draft")
        await a.http.patch(f"/api/v1/messages/{sent['id']}", json={"body": "final"})
        await b.http.put(f"/api/v1/messages/{sent['id']}/reactions/🎉")
        await b.http.post(f"/api/v1/conversations/{cid}/read", json={"message_id": sent["id"]})
        await a.http.delete(f"/api/v1/messages/{sent['id']}")
        for device in (phone, laptop):
            await device.until("message.created")
            edited, reacted, deleted = await device.events("message.updated", 3)
            assert edited["data"]["message"]["body"] == "final"
            assert reacted["data"]["message"]["reactions"][0]["emoji"] == "🎉"
            assert deleted["data"]["message"]["deleted"] is True
            assert deleted["data"]["message"]["body"] is None


@pytest.mark.promise("P-MSG-1")
async def test_resume_gives_exactly_what_was_missed(app: FastAPI, container: Container) -> None:
    a, b, cid = await pair(app, container)
    token = await token_for(b)
    async with serving(app) as address:
        async with stream(address, token) as live:
            await say(a, cid, "seen")
            await live.until("message.created")
            last = live.last_event_id
        missed = [(await say(a, cid, f"missed {i}"))["id"] for i in range(3)]
        async with websockets.connect(
            f"ws://{address}/api/v1/stream?since={last}",
            additional_headers={"Authorization": f"Bearer {token}"},
        ) as ws:
            frames = []
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
                frames.append(frame)
                if frame["type"] == "ready":
                    break
            replayed = [
                f["data"]["message"]["id"] for f in frames if f["type"] == "message.created"
            ]
            assert replayed == missed
            ids = [f["id"] for f in frames if "id" in f]
            assert ids == sorted(set(ids)) and min(ids) > last
            later = await say(a, cid, "live again")
            frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert frame["data"]["message"]["id"] == later["id"]


@pytest.mark.promise("P-MSG-1")
async def test_resume_across_a_server_restart(
    settings: Settings, clock: FixedClock, app: FastAPI, container: Container
) -> None:
    a, b, cid = await pair(app, container)
    token = await token_for(b)
    async with serving(app) as address, stream(address, token) as live:
        await say(a, cid, "before restart")
        await live.until("message.created")
        last = live.last_event_id
    missed = await say(a, cid, "while down")
    restarted = create_app(settings, clock)
    async with (
        restarted.router.lifespan_context(restarted),
        serving(restarted) as address,
        websockets.connect(
            f"ws://{address}/api/v1/stream?since={last}",
            additional_headers={"Authorization": f"Bearer {token}"},
        ) as ws,
    ):
        first = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert first["type"] == "hello"
        replay = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert replay["type"] == "message.created"
        assert replay["data"]["message"]["id"] == missed["id"]
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "ready"


async def test_typing_reaches_others_and_is_never_stored(
    app: FastAPI, container: Container
) -> None:
    a, b, cid = await pair(app, container)
    async with (
        serving(app) as address,
        stream(address, await token_for(a)) as sa,
        stream(address, await token_for(b)) as sb,
    ):
        await sa.send({"type": "typing", "conversation_id": cid})
        typing = await sb.until("typing")
        assert typing["data"]["user_id"] == a.id and "id" not in typing
        await sa.nothing_more("typing")
    from sqlalchemy import func, select

    from parlour.features.chat.models import Event

    async with container.db.transaction() as uow:
        kinds = (await uow.session.scalars(select(Event.type))).all()
        assert "typing" not in kinds and "presence" not in kinds
        assert await uow.session.scalar(select(func.count()).select_from(Event)) == len(kinds)


async def test_presence_shows_who_is_online(app: FastAPI, container: Container) -> None:
    a, b, cid = await pair(app, container)
    async with serving(app) as address, stream(address, await token_for(a)) as sa:
        async with stream(address, await token_for(b)):
            online = (await a.http.get(f"/api/v1/presence?user_id={b.id}")).json()["online"]
            assert online == [b.id]
            assert (await sa.until("presence"))["data"] == {"user_id": b.id, "state": "online"}
        offline = await sa.until("presence")
        assert offline["data"] == {"user_id": b.id, "state": "offline"}
        assert (await a.http.get(f"/api/v1/presence?user_id={b.id}")).json()["online"] == []
        _ = cid


async def test_malformed_frames_get_an_error_and_the_connection_lives_on(
    app: FastAPI, container: Container
) -> None:
    a, _b, cid = await pair(app, container)
    async with serving(app) as address, stream(address, await token_for(a)) as live:
        for bad in (
            "not json",
            json.dumps({"type": "explode"}),
            json.dumps({"type": "typing"}),
            json.dumps({"type": "ping", "extra": 1}),
            "x" * 20000,
        ):
            await live.send(bad)
            error = await live.until("error")
            assert error["code"] in ("validation_failed", "not_found", "payload_too_large")
            assert not LIBRARY_PHRASES.search(error["detail"]), error
        await live.ws.send(b"\x00binary")
        assert (await live.until("error"))["code"] == "validation_failed"
        await live.send({"type": "typing", "conversation_id": "someone-elses"})
        assert (await live.until("error"))["code"] == "not_found"
        await live.send({"type": "ping"})
        assert (await live.until("pong"))["last_event_id"] >= 0
        _ = cid


async def test_unauthenticated_and_cross_site_streams_are_refused(
    app: FastAPI, container: Container
) -> None:
    a, _b, _cid = await pair(app, container)
    async with serving(app) as address:
        async with websockets.connect(f"ws://{address}/api/v1/stream") as ws:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert frame["code"] == "unauthenticated"
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
        cookie = a.http.cookies.get("parlour_session")
        async with websockets.connect(
            f"ws://{address}/api/v1/stream",
            additional_headers={
                "Cookie": f"parlour_session={cookie}",
                "Origin": "https://evil.example",
            },
        ) as ws:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert frame["code"] == "unauthenticated"
        async with websockets.connect(
            f"ws://{address}/api/v1/stream",
            additional_headers={
                "Cookie": f"parlour_session={cookie}",
                "Origin": f"http://{address}",
            },
        ) as ws:
            assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "hello"


async def test_a_consumer_too_slow_for_its_queue_is_cut_off(
    settings: Settings, clock: FixedClock
) -> None:
    small = settings.model_copy(update={"stream_queue": 10})
    app = create_app(small, clock)
    async with app.router.lifespan_context(app):
        container: Container = app.state.container
        a, b, cid = await pair(app, container)
        actor = await container.accounts.authenticate(await token_for(b), "token")
        assert actor is not None
        session = await container.stream.open(actor, None)
        for i in range(15):
            await say(a, cid, f"flood {i}")
        received = []
        with pytest.raises(Overflow):
            while True:
                frame = await asyncio.wait_for(container.stream.next_live(session), 5)
                if frame is not None:
                    received.append(frame)
        assert len(received) <= 10
        await container.stream.close(session)


async def behind(container: Container, person: Person) -> StreamSession:
    """A stream session of `person` that nobody reads until the test drains it."""
    actor = await container.accounts.authenticate(await token_for(person), "token")
    assert actor is not None
    return await container.stream.open(actor, None)


async def drain(container: Container, session: StreamSession) -> list[dict[str, Any]]:
    """Every frame the session sends until it has nothing more for two seconds; then closed."""
    frames: list[dict[str, Any]] = []
    with contextlib.suppress(TimeoutError):
        while True:
            frame = await asyncio.wait_for(container.stream.next_live(session), 2)
            if frame is not None:
                assert json.loads(frame[0]) == frame[1]
                frames.append(frame[1])
    await container.stream.close(session)
    return frames


@pytest.mark.promise("P-MSG-1")
async def test_a_member_removed_while_behind_gets_nothing_posted_after_the_removal(
    app: FastAPI, container: Container
) -> None:
    """Their connection still listened when the next message was published; the removal
    frame, processed first, closes the conversation to it."""
    a = await instance_owner(app, container)
    b = await member(app, a)
    made = await a.http.post(
        "/api/v1/conversations", json={"kind": "group", "name": "Team", "member_ids": [b.id]}
    )
    cid = made.json()["id"]
    session = await behind(container, b)
    await say(a, cid, "before you left")
    removed = await a.http.delete(f"/api/v1/conversations/{cid}/members/{b.id}")
    assert removed.status_code == 204, removed.text
    await say(a, cid, "after you left")
    seen = [(w["type"], json.dumps(w.get("data", {}))) for w in await drain(container, session)]
    types = [t for t, _ in seen]
    assert "member.removed" in types, seen
    assert any("before you left" in d for _, d in seen), seen
    assert not any("after you left" in d for _, d in seen), "sent after the removal"


@pytest.mark.promise("P-MSG-1")
async def test_a_conversation_joined_while_the_stream_opens_is_followed_from_the_replay(
    app: FastAPI, container: Container
) -> None:
    """The addition lands after the connection read its conversations but before it caught up:
    the replay carries it, and from then on the new conversation's messages arrive live."""
    a = await instance_owner(app, container)
    b = await member(app, a)
    session = await behind(container, b)  # b's conversations are read: none yet
    made = await a.http.post(
        "/api/v1/conversations", json={"kind": "group", "name": "Late", "member_ids": [b.id]}
    )
    cid = made.json()["id"]
    replayed = [w async for page in container.stream.replay(session) for w in page]
    assert any(w["type"] == "member.added" for w in replayed), replayed
    await say(a, cid, "heard live")
    live = [json.dumps(w.get("data", {})) for w in await drain(container, session)]
    assert any("heard live" in d for d in live), "the joined conversation is not followed"


async def test_an_event_id_is_never_given_twice_even_after_the_newest_is_deleted(
    container: Container,
) -> None:
    """A client resumes after the last id it saw: were that id handed out again (the newest
    event gone with an erased account, then a new one), the new event would be skipped."""

    log = EventLog(container.bus, container.clock)

    async def append() -> int:
        async with container.db.transaction() as uow:
            event = await log.append_txn(uow, "test.event")
            await uow.commit()
        return int(event.id)

    await append()
    newest = await append()
    async with container.db.transaction() as uow:
        await uow.session.execute(delete(Event).where(Event.id == newest))
        await uow.commit()
    assert await append() > newest


@pytest.mark.promise("P-MSG-1")
async def test_someone_added_while_behind_gets_what_was_posted_right_after(
    app: FastAPI, container: Container
) -> None:
    """Their connection starts following the conversation only when it reaches the addition;
    what was posted in between is read back from the log, once."""
    a = await instance_owner(app, container)
    b = await member(app, a)
    c = await member(app, a)
    made = await a.http.post(
        "/api/v1/conversations", json={"kind": "group", "name": "Team", "member_ids": [c.id]}
    )
    cid = made.json()["id"]
    session = await behind(container, b)
    added = await a.http.post(f"/api/v1/conversations/{cid}/members", json={"user_ids": [b.id]})
    assert added.status_code == 204, added.text
    await say(a, cid, "welcome aboard")
    await say(c, cid, "hello from c")
    seen = [
        (w.get("id"), w["type"], json.dumps(w.get("data", {})))
        for w in await drain(container, session)
    ]
    bodies = [d for _i, t, d in seen if t == "message.created"]
    assert len(bodies) == 2, seen
    assert "welcome aboard" in bodies[0] and "hello from c" in bodies[1]
    ids = [i for i, _t, _d in seen if i is not None]
    assert ids == sorted(set(ids)), "in order, each once"


async def test_a_new_conversation_shows_who_of_its_members_is_online(
    app: FastAPI, container: Container
) -> None:
    """Both were connected before they shared a conversation, so neither heard the other come
    online: the new conversation brings each the other's presence."""
    a = await instance_owner(app, container)
    b = await member(app, a)
    async with (
        serving(app) as address,
        stream(address, await token_for(a)) as sa,
        stream(address, await token_for(b)) as sb,
    ):
        await direct(a, b)
        assert (await sa.until("presence"))["data"] == {"user_id": b.id, "state": "online"}
        assert (await sb.until("presence"))["data"] == {"user_id": a.id, "state": "online"}
        c = await member(app, a)
        made = await a.http.post(
            "/api/v1/conversations", json={"kind": "group", "name": "Team", "member_ids": [b.id]}
        )
        async with stream(address, await token_for(c)):
            added = await a.http.post(
                f"/api/v1/conversations/{made.json()['id']}/members", json={"user_ids": [c.id]}
            )
            assert added.status_code == 204, added.text
            for seen in (sa, sb):
                frame = await seen.until("presence")
                while frame["data"]["user_id"] != c.id:
                    frame = await seen.until("presence")
                assert frame["data"]["state"] == "online"


async def test_presence_in_a_new_conversation_crosses_processes(
    settings: Settings, clock: FixedClock
) -> None:
    """Two nodes sharing the database and Redis: the member online on the other node shows
    online to the creator of a conversation with them."""
    probe = Redis.from_url(REDIS_URL)
    try:
        await probe.ping()
    except (RedisError, OSError) as exc:
        missing("Redis", f"{REDIS_URL} did not answer ({type(exc).__name__})")
    finally:
        await probe.aclose()
    shared = settings.model_copy(update={"redis_url": REDIS_URL})
    one, two = create_app(shared, clock), create_app(shared, clock)
    async with (
        one.router.lifespan_context(one),
        two.router.lifespan_context(two),
        serving(one) as first,
        serving(two) as second,
    ):
        a = await instance_owner(one, one.state.container)
        b = await member(one, a)
        async with (
            stream(first, await token_for(a)) as sa,
            stream(second, await token_for(b)) as sb,
        ):
            await direct(a, b)
            frame = await sa.until("presence", timeout=10)
            assert frame["data"] == {"user_id": b.id, "state": "online"}
            frame = await sb.until("presence", timeout=10)
            assert frame["data"] == {"user_id": a.id, "state": "online"}
