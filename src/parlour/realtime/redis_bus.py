"""The bus across processes: Redis pub/sub carries messages between nodes.

Each process keeps one Redis subscriber connection and one reader task; local subscriptions
share it through the same fan-out the in-process bus uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.client import PubSub as RedisPubSubConn
from redis.exceptions import RedisError

from parlour.realtime.bus import DEFAULT_QUEUE, LocalFanout, Message, Subscription

log = logging.getLogger("parlour.bus")
PREFIX = "parlour:"
# Publishes come in bursts (a hint per commit, typing, presence of many connections at once):
# they wait for a connection rather than fail (redis-py's default pool raises
# MaxConnectionsError beyond 100). The subscriber holds one of these for good.
POOL_SIZE = 32
POOL_WAIT_SECONDS = 10


class RedisPubSub:
    def __init__(self, url: str) -> None:
        pool = BlockingConnectionPool.from_url(
            url, max_connections=POOL_SIZE, timeout=POOL_WAIT_SECONDS
        )
        self._redis: Redis = Redis.from_pool(pool)
        self._conn: RedisPubSubConn = self._redis.pubsub()
        self._fanout = LocalFanout(self)
        self._reader: asyncio.Task[None] | None = None
        self._confirm: dict[str, asyncio.Future[None]] = {}

    async def start(self) -> None:
        await self._redis.ping()

    async def first_listener(self, channel: str) -> None:
        """Returns once Redis confirms: from then on nothing published there is missed."""
        key = PREFIX + channel
        waiter = asyncio.get_running_loop().create_future()
        self._confirm[key] = waiter
        await self._conn.subscribe(key)
        if self._reader is None:
            self._reader = asyncio.create_task(self._read(), name="parlour-redis-bus")
        try:
            async with asyncio.timeout(10):
                await waiter
        finally:
            self._confirm.pop(key, None)

    async def last_listener_gone(self, channel: str) -> None:
        await self._conn.unsubscribe(PREFIX + channel)

    async def _read(self) -> None:
        while True:
            try:
                raw = await self._conn.get_message(timeout=1.0)
            except RedisError:
                log.warning("bus connection lost; retrying", extra={"event": "bus.retry"})
                await asyncio.sleep(0.5)
                continue
            if raw is None:
                continue
            key = raw["channel"].decode()
            if raw["type"] == "subscribe":
                waiter = self._confirm.get(key)
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)
            elif raw["type"] == "message":
                self._fanout.deliver(Message(key[len(PREFIX) :], raw["data"]))

    async def publish(self, channel: str, data: bytes) -> None:
        await self._redis.publish(PREFIX + channel, data)

    async def subscribe(self, *channels: str, maxsize: int = DEFAULT_QUEUE) -> Subscription:
        sub = Subscription(self._fanout, maxsize)
        await sub.listen(*channels)
        return sub

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        await self._conn.aclose()
        await self._redis.aclose()
