"""Whether a call's legs are still there, and the sweeper that acts on it.

A leg lives while the stream connection holding it (its device) is open. Every process counts
the stream connections it serves and, at most every third of the leg timeout, marks the active
legs those devices hold as seen, in one statement for all of them. Any process's sweep then
finds the legs nobody has seen for the timeout; the service leaves them with reason 'network'
at the time they were last seen. Nothing here assumes a single process: the only shared state
is `call_participants.last_seen_at`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from parlour.core.clock import Clock, as_utc
from parlour.db.uow import Database
from parlour.features.calls import store
from parlour.features.calls.models import Call, Participant

log = logging.getLogger("parlour.calls")

SWEEP_SECONDS = 1.0
TOUCH_BATCH = 500


class Liveness:
    def __init__(self, db: Database, clock: Clock, timeout_seconds: float) -> None:
        self._db = db
        self._clock = clock
        self.timeout = timedelta(seconds=timeout_seconds)
        self._held: Counter[str] = Counter()
        self._touched: datetime | None = None

    def hold(self, device_id: str) -> None:
        """A stream connection of this process opened."""
        self._held[device_id] += 1

    def release(self, device_id: str) -> None:
        """It closed: its legs are no longer marked as seen, and go after the timeout."""
        self._held[device_id] -= 1
        if self._held[device_id] <= 0:
            del self._held[device_id]

    async def touch(self) -> None:
        """Marks this process's connections' legs as seen; a write at most every third of the
        timeout, so other processes always find them fresh."""
        now = self._clock.now()
        if self._touched is not None and now - self._touched < self.timeout / 3:
            return
        self._touched = now
        devices = sorted(self._held)
        if not devices:
            return
        async with self._db.transaction() as uow:
            await uow.serialize_writes()
            for at in range(0, len(devices), TOUCH_BATCH):
                await store.touch_legs_txn(uow.session, devices[at : at + TOUCH_BATCH], now)
            await uow.commit()

    def cutoff(self) -> datetime:
        """A leg last seen before this is gone."""
        return self._clock.now() - self.timeout

    async def stale(self) -> list[Participant]:
        """Active legs nobody has seen for the timeout, longest gone first."""
        await self.touch()
        async with self._db.transaction() as uow:
            return await store.stale_legs(uow.session, self.cutoff())


def gone_at(row: Call, part: Participant) -> datetime:
    """When a leg was last known to be there: its last sighting, but never before it joined
    or the call connected, so the record's times stay in order."""
    times = [part.last_seen_at, part.joined_at, row.created_at, row.answered_at, row.connected_at]
    return max(as_utc(t) for t in times if t is not None)


class Sweeper:
    """Runs `sweep` about once a second in the background, on every process; the service's
    write lock makes two processes sweeping the same call harmless."""

    def __init__(self, sweep: Callable[[], Awaitable[object]]) -> None:
        self._sweep = sweep
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="parlour-call-sweeper")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            try:
                await self._sweep()
            except Exception:
                log.exception("call sweep failed", extra={"event": "calls.sweep_error"})
