"""The per-key rate limiter, one suite run against each backend (in-process and Redis)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from redis.exceptions import RedisError

from parlour.features.apikeys.limiter import (
    MemoryRateLimiter,
    RateLimiter,
    RedisRateLimiter,
)
from tests.support.services import missing

REDIS_URL = os.environ.get("PARLOUR_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
START = datetime(2026, 1, 5, 9, 0, 20, tzinfo=UTC)


async def _redis(prefix: str | None = None) -> RedisRateLimiter:
    limiter = RedisRateLimiter(REDIS_URL, prefix=prefix or f"parlour:test:{uuid.uuid4().hex}:")
    try:
        await limiter.hit("probe", 1, START)
    except (RedisError, OSError) as exc:
        await limiter.close()
        missing("Redis", f"{REDIS_URL} did not answer ({type(exc).__name__})")
    return limiter


@pytest.fixture(params=["memory", "redis"])
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[RateLimiter]:
    made: RateLimiter = MemoryRateLimiter() if request.param == "memory" else await _redis()
    yield made
    await made.close()


@pytest.mark.promise("P-API-1")
async def test_the_limit_allows_that_many_per_minute_then_says_when_to_retry(
    limiter: RateLimiter,
) -> None:
    verdicts = [await limiter.hit("key-a", 3, START) for _ in range(4)]
    assert [v.allowed for v in verdicts] == [True, True, True, False]
    assert verdicts[-1].retry_after == 40  # 09:00:20 → the minute ends in 40 s


async def test_each_bucket_counts_apart_and_a_new_minute_starts_again(
    limiter: RateLimiter,
) -> None:
    for _ in range(2):
        await limiter.hit("key-a", 2, START)
    assert not (await limiter.hit("key-a", 2, START)).allowed
    assert (await limiter.hit("key-b", 2, START)).allowed
    later = START + timedelta(seconds=40)
    verdict = await limiter.hit("key-a", 2, later)
    assert verdict.allowed and verdict.retry_after == 60


async def test_two_redis_limiters_share_one_count() -> None:
    """Two processes sharing Redis: the limit holds for the sum of their requests."""
    prefix = f"parlour:test:{uuid.uuid4().hex}:"
    one, two = await _redis(prefix), await _redis(prefix)
    try:
        await one.hit("key-a", 3, START - timedelta(minutes=1))  # another minute: not counted
        allowed = [
            (await limiter.hit("key-a", 3, START)).allowed for limiter in (one, two, one, two)
        ]
        assert allowed == [True, True, True, False]
    finally:
        await one.close()
        await two.close()
