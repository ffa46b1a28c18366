"""Enqueue in the caller's transaction; claim with a lease; run; retry with backoff.

A worker claims one due job at a time by writing its own id and a lease expiry into the row
(on PostgreSQL the candidate row is picked with ``FOR UPDATE SKIP LOCKED``; on both engines the
claim is a compare-and-set, so two workers never both win). While the handler runs, the lease
is renewed; if the worker dies, the lease runs out and another worker takes the job over.
Handlers are idempotent, so a job that ran halfway is simply run again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql.elements import ColumnElement

from parlour.core.clock import Clock
from parlour.core.errors import AppError
from parlour.core.ids import new_id
from parlour.db.uow import Database, UnitOfWork
from parlour.jobs.models import Job

log = logging.getLogger("parlour.jobs")

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
MAX_BACKOFF = timedelta(hours=1)
LOST_RACE = "lost"


@dataclass(frozen=True)
class JobSettings:
    poll_seconds: float = 2.0
    lease_seconds: float = 300.0
    retry_seconds: float = 30.0


@dataclass(frozen=True)
class Claimed:
    id: str
    name: str
    params: dict[str, Any]
    attempts: int
    max_attempts: int


class JobContext:
    """What a handler gets besides its params: who it is, and a way to finish atomically."""

    def __init__(self, runner: JobRunner, job: Claimed) -> None:
        self._runner = runner
        self.job_id = job.id
        self.attempt = job.attempts

    async def complete_txn(self, uow: UnitOfWork) -> None:
        """Marks the job done in the handler's own last transaction: its work and its 'done'
        commit together, so a crash between them cannot happen."""
        await self._runner.finish_txn(uow, self.job_id)


Handler = Callable[[JobContext, dict[str, Any]], Coroutine[Any, Any, None]]


@dataclass(frozen=True)
class Registered:
    handler: Handler
    max_attempts: int


@dataclass
class Periodic:
    name: str
    every: timedelta
    next_at: float = 0.0


def describe_error(exc: BaseException) -> str:
    """The class name and, for our own errors, the stable code: never the message."""
    if isinstance(exc, AppError):
        return f"{type(exc).__name__}:{exc.code.value}"
    return type(exc).__name__[:200]


def backoff(attempts: int, base: float) -> timedelta:
    return min(timedelta(seconds=base * 2 ** max(attempts - 1, 0)), MAX_BACKOFF)


class JobRunner:
    def __init__(self, db: Database, clock: Clock, settings: JobSettings | None = None) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings or JobSettings()
        self.owner = new_id()
        self._handlers: dict[str, Registered] = {}
        self._periodic: list[Periodic] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._postgres = db.engine.dialect.name == "postgresql"
        self._lost: set[str] = set()

    # -- registration and enqueueing ------------------------------------------------------

    def register(self, name: str, handler: Handler, max_attempts: int = 5) -> None:
        self._handlers[name] = Registered(handler, max_attempts)

    def every(self, name: str, interval: timedelta) -> None:
        """Queues ``name`` once per interval, whichever process gets there first."""
        self._periodic.append(Periodic(name, interval))

    async def enqueue_txn(
        self,
        uow: UnitOfWork,
        name: str,
        params: dict[str, Any] | None = None,
        *,
        subject_id: str | None = None,
        run_after: datetime | None = None,
        key: str | None = None,
    ) -> str:
        """Adds a job in the caller's transaction; it exists exactly when the caller commits.

        With ``key``, a second job with the same key is not added (periodic work).
        """
        now = self._clock.now()
        job_id = new_id()
        values = {
            "id": job_id,
            "name": name,
            "key": key,
            "subject_id": subject_id,
            "params": json.dumps(params or {}, separators=(",", ":")),
            "state": QUEUED,
            "attempts": 0,
            "max_attempts": self._max_attempts(name),
            "run_after": run_after or now,
            "created_at": now,
        }
        insert = pg_insert(Job) if self._postgres else sqlite_insert(Job)
        await uow.session.execute(insert.values(**values).on_conflict_do_nothing())

        async def _wake() -> None:
            self._wake.set()

        uow.after_commit(_wake, once="jobs.wake")
        return job_id

    def _max_attempts(self, name: str) -> int:
        registered = self._handlers.get(name)
        return registered.max_attempts if registered else 5

    # -- claiming -------------------------------------------------------------------------

    def _due(self, now: datetime) -> ColumnElement[bool]:
        return or_(
            and_(Job.state == QUEUED, Job.run_after <= now),
            and_(Job.state == RUNNING, Job.lease_expires_at < now),
        )

    async def claim(self) -> Claimed | None:
        """Takes the next due job for this worker, or None when nothing is due."""
        for _ in range(5):  # lost races are retried a few times, then left for the next poll
            outcome = await self._claim_once()
            if outcome is not LOST_RACE:
                return outcome if isinstance(outcome, Claimed) else None
        return None

    async def _claim_once(self) -> Claimed | str | None:
        now = self._clock.now()
        lease = timedelta(seconds=self._settings.lease_seconds)
        async with self._db.transaction() as uow:
            pick = select(Job.id).where(self._due(now)).order_by(Job.run_after).limit(1)
            if self._postgres:
                pick = pick.with_for_update(skip_locked=True)
            job_id = await uow.session.scalar(pick)
            if job_id is None:
                return None
            won = await uow.session.execute(
                update(Job)
                .where(Job.id == job_id, self._due(now))
                .values(
                    state=RUNNING,
                    attempts=Job.attempts + 1,
                    lease_owner=self.owner,
                    lease_expires_at=now + lease,
                )
                .execution_options(synchronize_session=False)
            )
            if won.rowcount != 1:  # type: ignore[attr-defined]
                return LOST_RACE
            row = (
                await uow.session.execute(
                    select(Job.name, Job.params, Job.attempts, Job.max_attempts).where(
                        Job.id == job_id
                    )
                )
            ).one()
            await uow.commit()
        return Claimed(job_id, row.name, json.loads(row.params), row.attempts, row.max_attempts)

    # -- running --------------------------------------------------------------------------

    async def run_due(self, limit: int = 1000) -> int:
        """Runs due jobs one after another until none is left; returns how many ran."""
        ran = 0
        while ran < limit:
            job = await self.claim()
            if job is None:
                break
            await self.run(job)
            ran += 1
        return ran

    async def run(self, job: Claimed) -> None:
        registered = self._handlers.get(job.name)
        if registered is None:
            await self._record_failure(job, "UnknownJob", final=True)
            return
        work = asyncio.create_task(registered.handler(JobContext(self, job), job.params))
        renew = asyncio.create_task(self._keep_lease(job, work))
        try:
            await work
        except asyncio.CancelledError:
            if job.id not in self._lost:
                raise
            self._lost.discard(job.id)
            log.warning("job lost its lease", extra={"event": "job.lease_lost", "job": job.name})
            return
        except Exception as exc:
            error = describe_error(exc)
            await self._record_failure(job, error, final=job.attempts >= job.max_attempts)
            return
        finally:
            renew.cancel()
            # gather, not suppress(CancelledError): a cancel of this task that arrives while
            # the renewal winds down must still stop it, not be swallowed with renew's own.
            await asyncio.gather(renew, return_exceptions=True)
        async with self._db.transaction() as uow:
            await self.finish_txn(uow, job.id)
            await uow.commit()
        log.info("job done", extra={"event": "job.done", "job": job.name})

    async def _keep_lease(self, job: Claimed, work: asyncio.Task[None]) -> None:
        """Renews the lease while the handler runs; cancels the handler if another took it."""
        lease = timedelta(seconds=self._settings.lease_seconds)
        while True:
            await asyncio.sleep(self._settings.lease_seconds / 3)
            async with self._db.transaction() as uow:
                kept = await uow.session.execute(
                    update(Job)
                    .where(Job.id == job.id, Job.lease_owner == self.owner, Job.state == RUNNING)
                    .values(lease_expires_at=self._clock.now() + lease)
                    .execution_options(synchronize_session=False)
                )
                await uow.commit()
            if kept.rowcount != 1:  # type: ignore[attr-defined]
                self._lost.add(job.id)
                work.cancel()
                return

    async def finish_txn(self, uow: UnitOfWork, job_id: str) -> None:
        """Done: the arguments and the subject are forgotten, only the fact remains."""
        await uow.session.execute(
            update(Job)
            .where(Job.id == job_id, Job.lease_owner == self.owner, Job.state == RUNNING)
            .values(
                state=DONE,
                params="{}",
                subject_id=None,
                lease_owner=None,
                lease_expires_at=None,
                finished_at=self._clock.now(),
            )
            .execution_options(synchronize_session=False)
        )

    async def _record_failure(self, job: Claimed, error: str, *, final: bool) -> None:
        now = self._clock.now()
        values: dict[str, Any] = {
            "last_error": error,
            "lease_owner": None,
            "lease_expires_at": None,
        }
        if final:  # given up: like a job done, it forgets whose it was and its arguments
            values |= {"state": FAILED, "finished_at": now, "params": "{}", "subject_id": None}
        else:
            values |= {
                "state": QUEUED,
                "run_after": now + backoff(job.attempts, self._settings.retry_seconds),
            }
        async with self._db.transaction() as uow:
            await uow.session.execute(
                update(Job)
                .where(Job.id == job.id, Job.lease_owner == self.owner)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            await uow.commit()
        log.warning(
            "job failed" if final else "job failed; will retry",
            extra={
                "event": "job.failed",
                "job": job.name,
                "error": error,
                "attempts": job.attempts,
            },
        )

    # -- the background loop --------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.serve(), name="parlour-jobs")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def serve(self) -> None:
        """Polls for due jobs until cancelled; an enqueue in this process wakes it at once."""
        loop = asyncio.get_running_loop()
        for periodic in self._periodic:
            periodic.next_at = loop.time() + min(periodic.every.total_seconds(), 60)
        me = asyncio.current_task()
        while True:
            if me is not None and me.cancelling():  # a stop() that a callee swallowed
                raise asyncio.CancelledError
            try:
                await self._schedule_periodic(loop.time())
                await self.run_due(limit=50)
            except Exception as exc:
                log.error(
                    "job round failed",
                    extra={"event": "job.round_failed", "error": describe_error(exc)},
                )
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
            # arrives as the wake-up does, and stop() would then wait for ever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._settings.poll_seconds):
                    await self._wake.wait()
            self._wake.clear()

    async def _schedule_periodic(self, now: float) -> None:
        for periodic in self._periodic:
            if now < periodic.next_at:
                continue
            periodic.next_at = now + periodic.every.total_seconds()
            await self.enqueue_periodic(periodic.name, periodic.every)

    async def enqueue_periodic(self, name: str, every: timedelta) -> None:
        slot = int(self._clock.now().timestamp() // every.total_seconds())
        async with self._db.transaction() as uow:
            await self.enqueue_txn(uow, name, key=f"{name}@{slot}")
            await uow.commit()
