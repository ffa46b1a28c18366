"""Retention purge: how fast expired rows go, against a plain DELETE of the same rows.

A fresh database gets, in bulk (one INSERT … SELECT over a generated series), ``--rows``
stream events older than their 30-day window, plus ``--held`` old events of a person under a
legal hold and ``--young`` events still inside the window. Then the retention service's
``purge()`` runs, as the hourly job does (keyset batches of 5,000 rows, each its own
transaction, the hold checked on every row, then the checkpoint or vacuum that follows a run),
and its rows/s are reported. Baselines of the same
run: the seed's insert rate, and one plain ``DELETE`` of the same number of expired rows in a
single statement and transaction (re-seeded first). The held and young rows must survive.

    python -m bench.purge [--backend sqlite|postgres] [--rows 1000000] [--postgres-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, func, select, text

from bench.harness import postgres_database

SERIES = {
    "sqlite": "WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < :n) "
    "INSERT INTO events (user_id, actor_id, type, created_at) "
    "SELECT :who, :who, 'bench.event', :at FROM seq",
    "postgresql": "INSERT INTO events (user_id, actor_id, type, created_at) "
    "SELECT :who, :who, 'bench.event', :at FROM generate_series(1, :n)",
}
ORG, USER, HELD = "o" * 32, "u" * 32, "h" * 32


@dataclass
class Figures:
    backend: str
    rows: int
    seed_s: float
    purge_s: float
    purged: int
    delete_s: float
    left: int
    load: tuple[float, float, float]


def settings_for(data_dir: Path, url: str) -> Any:
    from parlour.settings import Settings

    return Settings(
        data_dir=data_dir,
        database_url=url,
        secret_key="bench-secret-key-0123456789abcdef0123456789",
        worker_in_process=False,
        log_level="WARNING",
    )


async def people(container: Any, now: datetime) -> None:
    from parlour.features.accounts.models import User
    from parlour.features.orgs.models import Organisation
    from parlour.features.privacy.models import LegalHold

    async with container.db.transaction() as uow:
        s = uow.session
        s.add(Organisation(id=ORG, name="Bench", min_age=16, created_at=now))
        await s.flush()
        for uid in (USER, HELD):
            s.add(
                User(
                    id=uid, org_id=ORG, email=f"{uid[0]}@bench.example", name="Bench",
                    password_hash=None, role="member", is_instance_owner=False,
                    status="active", created_at=now, updated_at=now,
                )
            )  # fmt: skip
        await s.flush()
        s.add(
            LegalHold(
                id="l" * 32, org_id=ORG, user_id=HELD, reason="bench", created_by=USER,
                created_at=now,
            )
        )  # fmt: skip
        await uow.commit()


async def insert_events(container: Any, who: str, at: datetime, n: int) -> float:
    from parlour.db.base import UTCDateTime

    dialect = container.db.engine.dialect.name
    statement = text(SERIES[dialect]).bindparams(bindparam("at", type_=UTCDateTime()))
    started = time.perf_counter()
    async with container.db.transaction() as uow:
        await uow.session.execute(statement, {"who": who, "at": at, "n": n})
        await uow.commit()
    return time.perf_counter() - started


async def plain_delete(container: Any, cutoff: datetime) -> float:
    from parlour.features.chat.models import Event

    started = time.perf_counter()
    async with container.db.transaction() as uow:
        await uow.session.execute(
            Event.__table__.delete().where(Event.created_at < cutoff, Event.actor_id == USER)
        )
        await uow.commit()
    return time.perf_counter() - started


async def remaining(container: Any) -> int:
    from parlour.features.chat.models import Event

    async with container.db.transaction() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(Event)) or 0)


async def measure(backend: str, url: str, data_dir: Path, args: argparse.Namespace) -> Figures:
    from parlour.container import build_container
    from parlour.db.migrate import upgrade

    container = await build_container(settings_for(data_dir, url))
    try:
        await upgrade(container.db.engine)
        now = datetime.now(UTC)
        old = now - timedelta(days=45)
        await people(container, now)
        seed_s = await insert_events(container, USER, old, args.rows)
        await insert_events(container, HELD, old, args.held)
        await insert_events(container, USER, now, args.young)
        started = time.perf_counter()
        report = await container.retention.purge()
        purge_s = time.perf_counter() - started
        purged = sum(r.rows for r in report)
        left = await remaining(container)
        await insert_events(container, USER, old, args.rows)
        delete_s = await plain_delete(container, now - timedelta(days=30))
    finally:
        await container.close()
    return Figures(backend, args.rows, seed_s, purge_s, purged, delete_s, left, os.getloadavg())


@contextmanager
def database(backend: str, folder: Path, postgres_url: str | None) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{folder / 'parlour.db'}"
    elif postgres_url:
        asyncio.run(_reset(postgres_url))
        yield postgres_url
    else:
        with postgres_database("parlour_bench_purge") as url:
            yield url


async def _reset(url: str) -> None:
    """An existing database given on the command line is emptied first: it must be one to spare."""
    from parlour.db.engine import create_engine

    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    finally:
        await engine.dispose()


def report(f: Figures, args: argparse.Namespace) -> None:
    purge_rate = f.purged / f.purge_s
    delete_rate = f.rows / f.delete_s
    print(
        f"retention purge on {f.backend}: {f.rows:,} expired events, {args.held:,} held, "
        f"{args.young:,} young; load average {f.load[0]:.2f} {f.load[1]:.2f} {f.load[2]:.2f} "
        f"on {os.cpu_count()} cores"
    )
    print(f"  seed (INSERT … SELECT)     {f.seed_s:8.2f} s  {f.rows / f.seed_s:12,.0f} rows/s")
    print(f"  purge (batches of 5,000)   {f.purge_s:8.2f} s  {purge_rate:12,.0f} rows/s")
    print(f"  one plain DELETE           {f.delete_s:8.2f} s  {delete_rate:12,.0f} rows/s")
    print(
        f"  ratio purge / plain DELETE: {purge_rate / delete_rate:.2f}; "
        f"rows left {f.left:,} (expected {args.held + args.young:,})"
    )
    if f.purged != f.rows or f.left != args.held + args.young:
        raise SystemExit("the purge removed the wrong rows")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--held", type=int, default=1_000)
    parser.add_argument("--young", type=int, default=10_000)
    parser.add_argument(
        "--postgres-url", help="an existing database to empty and use, instead of a new one"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="parlour-purge-") as tmp:
        folder = Path(tmp)
        with database(args.backend, folder, args.postgres_url) as url:
            figures = asyncio.run(measure(args.backend, url, folder, args))
    report(figures, args)


if __name__ == "__main__":
    main()
