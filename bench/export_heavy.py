"""Export of a heavy user: time and peak memory of the worker for 1,000 and 100,000 messages.

For each size: a fresh database is seeded directly (one organisation, the user, a colleague, a
group conversation in which the user wrote N messages and the colleague N/10), an export is
requested through the service, and a separate `parlour worker --once` process builds it. The
worker's wall time and peak RSS (from wait4, so only that process) are reported, together
with the same worker's peak RSS when there is nothing to do, and the ratios between sizes:
with batched keyset reads and a streamed ZIP, memory should stay flat while time grows
linearly.

    python -m bench.export_heavy [--backend sqlite|postgres] [--sizes 1000,100000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, select

from bench.harness import bench_env, postgres_database

BATCH = 5000
BODY = "A message of ordinary length, about the weekly planning and what comes next. "


@dataclass
class Run:
    messages: int
    seconds: float
    peak_rss_mb: float
    zip_mb: float
    exported_messages: int


def settings_for(data_dir: Path, url: str) -> object:
    from parlour.settings import Settings

    return Settings(
        data_dir=data_dir,
        database_url=url,
        secret_key="bench-secret-key-0123456789abcdef0123456789",
        worker_in_process=False,
        password_time_cost=1,
        password_memory_cost=1024,
        log_level="WARNING",
    )


async def seed(data_dir: Path, url: str, messages: int) -> str:
    """Writes the rows directly (the API would take minutes), then requests the export."""
    from parlour.container import build_container
    from parlour.db.migrate import upgrade
    from parlour.features.accounts.actor import Actor
    from parlour.features.accounts.models import User
    from parlour.features.chat.models import Conversation, Member, Message
    from parlour.features.orgs.models import Organisation

    container = await build_container(settings_for(data_dir, url))  # type: ignore[arg-type]
    try:
        await upgrade(container.db.engine)
        now = datetime.now(UTC)
        async with container.db.transaction() as uow:
            s = uow.session
            s.add(Organisation(id="o" * 32, name="Bench", min_age=16, created_at=now))
            await s.flush()
            for uid, name in (("u" * 32, "Heavy User"), ("w" * 32, "Colleague")):
                s.add(
                    User(
                        id=uid,
                        org_id="o" * 32,
                        email=f"{uid[0]}@bench.example",
                        name=name,
                        password_hash=None,
                        role="member",
                        is_instance_owner=False,
                        status="active",
                        created_at=now,
                        updated_at=now,
                    )
                )
            await s.flush()
            s.add(
                Conversation(
                    id="c" * 32,
                    org_id="o" * 32,
                    kind="group",
                    name="Planning",
                    created_by="u" * 32,
                    created_at=now,
                    last_event_id=0,
                )
            )
            await s.flush()
            for uid in ("u" * 32, "w" * 32):
                s.add(
                    Member(
                        conversation_id="c" * 32,
                        user_id=uid,
                        role="member",
                        joined_event_id=0,
                        read_message_id=0,
                    )
                )
            await uow.commit()
        total = messages + messages // 10
        for start in range(0, total, BATCH):
            rows = [
                {
                    "conversation_id": "c" * 32,
                    "sender_id": "u" * 32 if n < messages else "w" * 32,
                    "body": f"{BODY}#{n}",
                    "created_at": now + timedelta(milliseconds=n),
                }
                for n in range(start, min(start + BATCH, total))
            ]
            async with container.db.transaction() as uow:
                await uow.session.execute(insert(Message), rows)
                await uow.commit()
        actor = Actor("u" * 32, "o" * 32, "member", False, "s" * 32, "cookie", now, now)
        export = await container.exports.request(actor)
        return export.id
    finally:
        await container.close()


def run_worker(data_dir: Path, url: str) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one `parlour worker --once` process."""
    env = bench_env(data_dir, database_url=url, worker_in_process="false")
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "parlour", "worker", "--once"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _pid, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"the worker failed: {process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
    return seconds, usage.ru_maxrss / 1024


async def result(data_dir: Path, url: str, export_id: str) -> tuple[float, int]:
    from parlour.container import build_container
    from parlour.features.privacy.models import Export

    container = await build_container(settings_for(data_dir, url))  # type: ignore[arg-type]
    try:
        async with container.db.transaction() as uow:
            state, key = (
                await uow.session.execute(
                    select(Export.state, Export.blob_key).where(Export.id == export_id)
                )
            ).one()
    finally:
        await container.close()
    assert state == "ready" and key, state
    with zipfile.ZipFile(data_dir / "blobs" / key) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    rows = next(f for f in manifest["files"] if f["path"] == "data/messages.json")["rows"]
    size = (data_dir / "blobs" / key).stat().st_size / 1e6
    return size, sum(rows.values())


@contextmanager
def database(backend: str, folder: Path, n: int) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{folder / 'parlour.db'}"
        return
    with postgres_database(f"parlour_bench_export_{n}") as url:
        yield url


def measure(backend: str, messages: int) -> Run:
    with tempfile.TemporaryDirectory(prefix="parlour-export-") as tmp:
        folder = Path(tmp)
        with database(backend, folder, messages) as url:
            export_id = asyncio.run(seed(folder, url, messages))
            seconds, rss = run_worker(folder, url)
            size, exported = asyncio.run(result(folder, url, export_id))
    return Run(messages, seconds, rss, size, exported)


def idle_worker(backend: str) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="parlour-export-") as tmp:
        folder = Path(tmp)
        with database(backend, folder, 0) as url:
            asyncio.run(seed(folder, url, 0))
            run_worker(folder, url)  # builds the empty export
            return run_worker(folder, url)  # nothing left to do: start-up and shut-down only


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--sizes", default="1000,100000")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    idle_seconds, baseline = idle_worker(args.backend)
    runs = [measure(args.backend, n) for n in sizes]
    print(
        f"export of a heavy user on {args.backend}; an idle `parlour worker --once` takes "
        f"{idle_seconds:.1f} s and peaks at {baseline:.0f} MB RSS"
    )
    heads = ("messages", "exported", "worker s", "export s", "rows/s", "peak RSS MB", "zip MB")
    print(" ".join(f"{h:>11}" for h in heads))
    for r in runs:
        work = max(r.seconds - idle_seconds, 0.001)
        cells = (r.messages, r.exported_messages, f"{r.seconds:.1f}", f"{work:.1f}")
        rest = (f"{r.exported_messages / work:.0f}", f"{r.peak_rss_mb:.0f}", f"{r.zip_mb:.2f}")
        print(" ".join(f"{c:>11}" for c in (*cells, *rest)))
    first, last = runs[0], runs[-1]
    work_first = max(first.seconds - idle_seconds, 0.001)
    work_last = max(last.seconds - idle_seconds, 0.001)
    print(
        f"ratio {last.messages}/{first.messages}: export time x{work_last / work_first:.1f}, "
        f"peak RSS x{last.peak_rss_mb / first.peak_rss_mb:.2f} "
        f"(above idle: {first.peak_rss_mb - baseline:.0f} MB -> "
        f"{last.peak_rss_mb - baseline:.0f} MB)"
    )


if __name__ == "__main__":
    main()
