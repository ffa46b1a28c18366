"""One contract, every bus backend: in-process and Redis."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator

import pytest

from parlour.realtime.bus import Closed, MemoryPubSub, Overflow, PubSub
from tests.support.services import missing

REDIS_URL = os.environ.get("PARLOUR_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


async def _redis_bus() -> PubSub:
    from redis.exceptions import RedisError

    from parlour.realtime.redis_bus import RedisPubSub

    bus = RedisPubSub(REDIS_URL)
    try:
        await bus.start()
    except (RedisError, OSError) as exc:
        await bus.close()
        missing("Redis", f"{REDIS_URL} did not answer ({type(exc).__name__})")
    return bus


@pytest.fixture(params=["memory", "redis"])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[PubSub]:
    backend: PubSub = MemoryPubSub() if request.param == "memory" else await _redis_bus()
    try:
        yield backend
    finally:
        await backend.close()


def channel() -> str:
    return "test-" + uuid.uuid4().hex


async def test_a_subscriber_receives_what_is_published_in_order(bus: PubSub) -> None:
    name = channel()
    sub = await bus.subscribe(name)
    for i in range(50):
        await bus.publish(name, str(i).encode())
    got = [int((await asyncio.wait_for(sub.get(), 5)).data) for _ in range(50)]
    assert got == list(range(50))
    await sub.close()


async def test_only_listeners_of_a_channel_receive_it(bus: PubSub) -> None:
    a, b = channel(), channel()
    sub_a = await bus.subscribe(a)
    sub_b = await bus.subscribe(b)
    await bus.publish(a, b"for a")
    await bus.publish(b, b"for b")
    assert (await asyncio.wait_for(sub_a.get(), 5)).data == b"for a"
    assert (await asyncio.wait_for(sub_b.get(), 5)).data == b"for b"
    assert sub_a.pending() == 0 and sub_b.pending() == 0
    await sub_a.close()
    await sub_b.close()


async def test_every_subscriber_of_a_channel_gets_a_copy(bus: PubSub) -> None:
    name = channel()
    subs = [await bus.subscribe(name) for _ in range(5)]
    await bus.publish(name, b"hello")
    for sub in subs:
        message = await asyncio.wait_for(sub.get(), 5)
        assert (message.channel, message.data) == (name, b"hello")
        await sub.close()


async def test_listening_can_change_while_subscribed(bus: PubSub) -> None:
    first, second = channel(), channel()
    sub = await bus.subscribe(first)
    await sub.listen(second)
    await sub.unlisten(first)
    await bus.publish(first, b"gone")
    await bus.publish(second, b"here")
    assert (await asyncio.wait_for(sub.get(), 5)).data == b"here"
    await sub.close()


async def test_a_slow_subscriber_is_cut_off_not_grown(bus: PubSub) -> None:
    name = channel()
    slow = await bus.subscribe(name, maxsize=10)
    fast = await bus.subscribe(name, maxsize=1000)
    for i in range(30):
        await bus.publish(name, str(i).encode())
    got = [int((await asyncio.wait_for(fast.get(), 5)).data) for _ in range(30)]
    assert got == list(range(30))
    assert slow.pending() <= 10
    kept = [int((await slow.get()).data) for _ in range(slow.pending())]
    assert kept == list(range(10))
    with pytest.raises(Overflow):
        await slow.get()
    await slow.close()
    await fast.close()


async def test_closing_wakes_a_waiting_reader(bus: PubSub) -> None:
    sub = await bus.subscribe(channel())
    reader = asyncio.create_task(sub.get())
    await asyncio.sleep(0)
    await sub.close()
    with pytest.raises(Closed):
        await asyncio.wait_for(reader, 5)


async def test_redis_carries_messages_between_nodes() -> None:
    node_a, node_b = await _redis_bus(), await _redis_bus()
    try:
        name = channel()
        sub = await node_b.subscribe(name)
        await node_a.publish(name, b"across")
        assert (await asyncio.wait_for(sub.get(), 5)).data == b"across"
        await sub.close()
    finally:
        await node_a.close()
        await node_b.close()


async def test_presence_across_nodes_goes_offline_only_when_the_last_connection_ends() -> None:
    """One person with a tab on each of two nodes: closing one tab does not announce them
    offline, and the second tab does not announce them online again."""
    from redis.exceptions import RedisError

    from parlour.realtime.presence import RedisPresence

    node_a, node_b = RedisPresence(REDIS_URL, "node-a"), RedisPresence(REDIS_URL, "node-b")
    user = "presence-" + os.urandom(6).hex()
    try:
        try:
            assert await node_a.connected(user) is True, "came online"
        except (OSError, RedisError) as exc:
            missing("Redis", f"{REDIS_URL} did not answer ({type(exc).__name__})")
        assert await node_b.connected(user) is False, "already online through node a"
        assert await node_a.disconnected(user) is False, "still online through node b"
        assert await node_b.online([user]) == {user}
        assert await node_b.disconnected(user) is True, "now offline everywhere"
        assert await node_a.online([user]) == set()
    finally:
        await node_a.close()
        await node_b.close()
