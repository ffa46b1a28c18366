"""Who is online: counted per node, shared through Redis when there are several nodes.

Presence is ephemeral by design: nothing of it is written to the database.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Protocol

from redis.asyncio import BlockingConnectionPool, Redis

TTL_SECONDS = 60
REFRESH_SECONDS = TTL_SECONDS / 3
# Every stream connection counts itself here: a burst of connections waits for one of these
# rather than failing (redis-py's default pool raises MaxConnectionsError beyond 100).
POOL_SIZE = 32
POOL_WAIT_SECONDS = 10


class Presence(Protocol):
    async def connected(self, user_id: str) -> bool:
        """Counts a connection; True when it is the user's first anywhere (they came online)."""
        ...

    async def disconnected(self, user_id: str) -> bool:
        """True when it was the user's last connection anywhere (they went offline)."""
        ...

    async def online(self, user_ids: list[str]) -> set[str]: ...

    async def refresh(self) -> None:
        """Called on a heartbeat: keeps this node's users marked as online."""
        ...

    async def close(self) -> None: ...


class MemoryPresence:
    def __init__(self) -> None:
        self._count: Counter[str] = Counter()

    async def connected(self, user_id: str) -> bool:
        self._count[user_id] += 1
        return self._count[user_id] == 1

    async def disconnected(self, user_id: str) -> bool:
        self._count[user_id] -= 1
        if self._count[user_id] <= 0:
            del self._count[user_id]
            return True
        return False

    async def online(self, user_ids: list[str]) -> set[str]:
        return {u for u in user_ids if self._count.get(u)}

    def users(self) -> list[str]:
        return list(self._count)

    async def refresh(self) -> None:
        return None

    async def close(self) -> None:
        return None


class RedisPresence:
    """A hash per user: node id -> expiry time. A node that dies simply stops refreshing."""

    def __init__(self, url: str, node_id: str) -> None:
        pool = BlockingConnectionPool.from_url(
            url, max_connections=POOL_SIZE, timeout=POOL_WAIT_SECONDS
        )
        self._redis: Redis = Redis.from_pool(pool)
        self._node = node_id
        self._local = MemoryPresence()
        self._next_refresh = 0.0

    @staticmethod
    def _key(user_id: str) -> str:
        return f"parlour:presence:{user_id}"

    async def connected(self, user_id: str) -> bool:
        first_here = await self._local.connected(user_id)
        elsewhere = first_here and bool(await self.online([user_id]))
        await self._redis.hset(self._key(user_id), self._node, str(time.time() + TTL_SECONDS))
        return first_here and not elsewhere

    async def disconnected(self, user_id: str) -> bool:
        """Offline only when no other node still holds a live connection of theirs."""
        if not await self._local.disconnected(user_id):
            return False
        await self._redis.hdel(self._key(user_id), self._node)
        return not await self.online([user_id])

    async def online(self, user_ids: list[str]) -> set[str]:
        """One round trip however many are asked about (a new group's members, say)."""
        if not user_ids:
            return set()
        async with self._redis.pipeline(transaction=False) as pipe:
            for user_id in user_ids:
                pipe.hgetall(self._key(user_id))
            answers = await pipe.execute()
        now = time.time()
        return {
            user_id
            for user_id, nodes in zip(user_ids, answers, strict=True)
            if any(float(expiry) > now for expiry in nodes.values())
        }

    async def refresh(self) -> None:
        """Every connection's heartbeat calls this; the node's entries are rewritten at most
        once per REFRESH_SECONDS, in one round trip (not once per connection and user)."""
        now = time.monotonic()
        if now < self._next_refresh:
            return
        self._next_refresh = now + REFRESH_SECONDS
        users = self._local.users()
        if not users:
            return
        expiry = str(time.time() + TTL_SECONDS)
        async with self._redis.pipeline(transaction=False) as pipe:
            for user_id in users:
                pipe.hset(self._key(user_id), self._node, expiry)
            await pipe.execute()

    async def close(self) -> None:
        await self._redis.aclose()
