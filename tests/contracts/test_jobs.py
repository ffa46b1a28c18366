"""The job queue keeps its contract on SQLite and on PostgreSQL: one runner per job at a time,
expired leases taken over, failures retried with backoff and then recorded without content."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import select, text

from parlour.core.clock import FixedClock
from parlour.db.engine import create_engine
from parlour.db.uow import Database
from parlour.jobs.models import Job
from parlour.jobs.runner import DONE, FAILED, QUEUED, RUNNING, JobContext, JobRunner, JobSettings
from tests.support.database import migrate_fresh
from tests.support.services import POSTGRES_URL, missing

DATABASE = "parlour_jobs_contract"
SETTINGS = JobSettings(poll_seconds=0.05, lease_seconds=30, retry_seconds=30)


async def _postgres_url() -> str:
    admin = POSTGRES_URL.replace("postgresql+asyncpg://", "postgresql://")
    try:
        conn = await asyncpg.connect(admin)
    except (OSError, asyncpg.PostgresError) as exc:
        missing("PostgreSQL", f"{admin} did not answer ({type(exc).__name__})")
        raise
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        await conn.execute(f"CREATE DATABASE {DATABASE}")
    finally:
        await conn.close()
    return POSTGRES_URL.rsplit("/", 1)[0] + "/" + DATABASE


@pytest.fixture(params=["sqlite", "postgresql"])
async def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        found = f"sqlite+aiosqlite:///{tmp_path / 'jobs.db'}"
    else:
        found = await _postgres_url()
    await migrate_fresh(found)
    return found


class Workers:
    """Several runners, each on its own engine, as separate processes would be."""

    def __init__(self, url: str, clock: FixedClock) -> None:
        self.url = url
        self.clock = clock
        self.dbs: list[Database] = []

    def runner(self) -> JobRunner:
        db = Database(create_engine(self.url))
        self.dbs.append(db)
        return JobRunner(db, self.clock, SETTINGS)

    async def enqueue(self, runner: JobRunner, name: str, **params: Any) -> str:
        async with runner_db(runner).transaction() as uow:
            job_id = await runner.enqueue_txn(uow, name, params)
            await uow.commit()
        return job_id

    async def job(self, job_id: str) -> Job:
        async with self.dbs[0].transaction() as uow:
            job = await uow.session.scalar(select(Job).where(Job.id == job_id))
            assert job is not None
            return job

    async def close(self) -> None:
        for db in self.dbs:
            await db.dispose()


def runner_db(runner: JobRunner) -> Database:
    db: Database = runner._db
    return db


@pytest.fixture
async def workers(url: str) -> AsyncIterator[Workers]:
    found = Workers(url, FixedClock())
    try:
        yield found
    finally:
        await found.close()


async def test_two_workers_never_run_the_same_job_at_once(workers: Workers) -> None:
    running: set[str] = set()
    runs: list[tuple[str, str]] = []

    def handler_for(name: str) -> Any:
        async def handler(ctx: JobContext, params: dict[str, Any]) -> None:
            assert ctx.job_id not in running, "a job ran twice at the same time"
            running.add(ctx.job_id)
            await asyncio.sleep(0.01)
            running.discard(ctx.job_id)
            runs.append((ctx.job_id, name))

        return handler

    one, two = workers.runner(), workers.runner()
    one.register("work", handler_for("one"))
    two.register("work", handler_for("two"))
    ids = [await workers.enqueue(one, "work", n=n) for n in range(24)]
    await asyncio.gather(one.run_due(), two.run_due())
    assert sorted(job_id for job_id, _ in runs) == sorted(ids)
    assert {worker for _, worker in runs} == {"one", "two"}, "both workers should get work"
    for job_id in ids:
        job = await workers.job(job_id)
        assert (job.state, job.attempts, job.params, job.lease_owner) == (DONE, 1, "{}", None)


async def test_a_claimed_job_is_invisible_to_others_until_its_lease_expires(
    workers: Workers,
) -> None:
    one, two = workers.runner(), workers.runner()
    job_id = await workers.enqueue(one, "work")
    claimed = await one.claim()
    assert claimed is not None and claimed.id == job_id
    assert await two.claim() is None
    workers.clock.advance(timedelta(seconds=SETTINGS.lease_seconds - 1))
    assert await two.claim() is None


async def test_an_expired_lease_is_taken_over_and_the_job_completes(workers: Workers) -> None:
    done: list[str] = []

    async def handler(ctx: JobContext, params: dict[str, Any]) -> None:
        done.append(ctx.job_id)

    crashed, survivor = workers.runner(), workers.runner()
    survivor.register("work", handler)
    job_id = await workers.enqueue(survivor, "work")
    assert await crashed.claim() is not None  # then the process "dies": nothing more happens
    workers.clock.advance(timedelta(seconds=SETTINGS.lease_seconds + 1))
    taken = await survivor.claim()
    assert taken is not None and taken.id == job_id and taken.attempts == 2
    await survivor.run(taken)
    assert done == [job_id]
    job = await workers.job(job_id)
    assert job.state == DONE
    # The crashed worker, were it to wake up, can no longer mark the job as its own.
    async with runner_db(crashed).transaction() as uow:
        await crashed.finish_txn(uow, job_id)
        await uow.commit()
    assert (await workers.job(job_id)).finished_at == job.finished_at


async def test_a_failing_job_is_retried_with_backoff_then_fails_with_its_error(
    workers: Workers,
) -> None:
    attempts: list[int] = []

    async def handler(ctx: JobContext, params: dict[str, Any]) -> None:
        attempts.append(ctx.attempt)
        raise ValueError(f"could not reach {params['who']}")  # a message with personal data

    runner = workers.runner()
    runner.register("flaky", handler, max_attempts=3)
    job_id = await workers.enqueue(runner, "flaky", who="alice@example.org")
    assert await runner.run_due() == 1
    job = await workers.job(job_id)
    assert (job.state, job.attempts, job.last_error) == (QUEUED, 1, "ValueError")
    assert job.run_after == workers.clock.now() + timedelta(seconds=30)
    assert await runner.run_due() == 0, "not before its backoff"
    workers.clock.advance(timedelta(seconds=30))
    assert await runner.run_due() == 1
    job = await workers.job(job_id)
    assert job.run_after == workers.clock.now() + timedelta(seconds=60), "the wait doubles"
    workers.clock.advance(timedelta(seconds=60))
    assert await runner.run_due() == 1
    job = await workers.job(job_id)
    assert (job.state, job.attempts, job.last_error) == (FAILED, 3, "ValueError")
    assert attempts == [1, 2, 3]
    assert "alice" not in (job.last_error or "")
    workers.clock.advance(timedelta(days=1))
    assert await runner.run_due() == 0


async def test_a_job_exists_only_if_its_transaction_commits(workers: Workers) -> None:
    runner = workers.runner()
    async with runner_db(runner).transaction() as uow:
        await runner.enqueue_txn(uow, "work", {"n": 1})
        # no commit: the caller failed, so the job never existed
    async with runner_db(runner).transaction() as uow:
        count = await uow.session.scalar(text("SELECT count(*) FROM jobs"))
    assert count == 0


async def test_periodic_work_is_queued_once_per_interval_across_workers(
    workers: Workers,
) -> None:
    one, two = workers.runner(), workers.runner()
    every = timedelta(hours=1)
    await asyncio.gather(one.enqueue_periodic("sweep", every), two.enqueue_periodic("sweep", every))
    await one.enqueue_periodic("sweep", every)
    async with runner_db(one).transaction() as uow:
        rows = list(await uow.session.scalars(select(Job).where(Job.name == "sweep")))
    assert len(rows) == 1 and rows[0].state == QUEUED


async def test_a_worker_that_loses_its_lease_stops_the_handler(workers: Workers) -> None:
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def slow(ctx: JobContext, params: dict[str, Any]) -> None:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    db = Database(create_engine(workers.url))
    workers.dbs.append(db)
    quick = JobRunner(db, workers.clock, JobSettings(lease_seconds=0.3))
    quick.register("slow", slow)
    job_id = await workers.enqueue(quick, "slow")
    claimed = await quick.claim()
    assert claimed is not None
    run = asyncio.create_task(quick.run(claimed))
    await asyncio.wait_for(started.wait(), 5)
    async with db.transaction() as uow:  # another worker took it over meanwhile
        await uow.session.execute(
            text("UPDATE jobs SET lease_owner = 'someone-else' WHERE id = :id"), {"id": job_id}
        )
        await uow.commit()
    await asyncio.wait_for(run, 5)
    assert cancelled.is_set()
    job = await workers.job(job_id)
    assert (job.state, job.lease_owner) == (RUNNING, "someone-else")
    assert json.loads(job.params) == {}


async def test_a_runner_woken_as_it_is_stopped_still_stops(workers: Workers) -> None:
    """Shutting down right after a job is queued (its wake-up and the cancellation arrive
    together) must not leave the process waiting for the job loop for ever."""
    ran: list[str] = []

    async def handler(ctx: JobContext, params: dict[str, Any]) -> None:
        ran.append(ctx.job_id)

    db = Database(create_engine(workers.url))
    workers.dbs.append(db)
    runner = JobRunner(db, workers.clock, JobSettings(poll_seconds=10, lease_seconds=30))
    runner.register("work", handler)
    for _ in range(5):
        runner.start()
        await asyncio.sleep(0.05)  # the loop is waiting for work
        await workers.enqueue(runner, "work")
        stop = asyncio.create_task(runner.stop())
        done, _ = await asyncio.wait({stop}, timeout=5)
        if not done:
            while not stop.done():  # cancel again until it ends, so the test can fail
                runner._task.cancel()  # type: ignore[union-attr]
                await asyncio.sleep(0.1)
            pytest.fail("the job loop swallowed the cancellation and kept running")
    await runner.run_due()
    assert len(ran) == 5
