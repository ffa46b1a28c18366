"""Requests per key per minute: counted in Redis when configured (shared by every process),
in this process otherwise. A fixed window keyed by the minute of the injected clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from redis.asyncio import Redis

WINDOW = 60


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int  # seconds until the window ends


def window_of(now: datetime) -> tuple[int, int]:
    """The window's number and the whole seconds left in it (at least 1)."""
    stamp = int(now.timestamp())
    return stamp // WINDOW, WINDOW - stamp % WINDOW


class RateLimiter(Protocol):
    async def hit(self, bucket: str, limit: int, now: datetime) -> Verdict: ...

    async def close(self) -> None: ...


class MemoryRateLimiter:
    """One process only; old windows are dropped as new ones start."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, int], int] = {}
        self._window = -1

    async def hit(self, bucket: str, limit: int, now: datetime) -> Verdict:
        window, left = window_of(now)
        if window != self._window:
            self._counts = {k: v for k, v in self._counts.items() if k[1] >= window}
            self._window = window
        count = self._counts.get((bucket, window), 0) + 1
        self._counts[(bucket, window)] = count
        return Verdict(count <= limit, left)

    async def close(self) -> None:
        self._counts.clear()


class RedisRateLimiter:
    """INCR on one key per bucket and window, which expires after the window: atomic across
    every process that shares the Redis."""

    def __init__(self, url: str, prefix: str = "parlour:rate:") -> None:
        self._redis: Redis = Redis.from_url(url)
        self._prefix = prefix

    async def hit(self, bucket: str, limit: int, now: datetime) -> Verdict:
        window, left = window_of(now)
        key = f"{self._prefix}{bucket}:{window}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, WINDOW * 2)
            count, _ = await pipe.execute()
        return Verdict(int(count) <= limit, left)

    async def close(self) -> None:
        await self._redis.aclose()


def make_limiter(redis_url: str | None) -> RateLimiter:
    return RedisRateLimiter(redis_url) if redis_url else MemoryRateLimiter()
