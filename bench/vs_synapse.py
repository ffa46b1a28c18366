"""Parlour and Matrix Synapse side by side: the same chat workload, in one run.

    python -m bench.vs_synapse --synapse-python bench/.work/synapse-venv/bin/python

For each backend (SQLite, then PostgreSQL; Parlour also gets Redis there), each server is
started fresh on 127.0.0.1, seeded with the same users and rooms, and driven by this one client
process at full speed and then at a fixed rate. Every server started is stopped again, also on
Ctrl-C or failure. The table goes to the terminal and to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from bench.vs_clients import ChatClient, MatrixChat, ParlourChat
from bench.vs_report import render, write_doc
from bench.vs_servers import (
    PARLOUR_DB,
    SYNAPSE_DB,
    Running,
    assert_loopback,
    fresh_database,
    parlour,
    snapshot_source,
    synapse,
)
from bench.vs_workload import Meters, Phase, Tracker, layout, plan, run_phase

SERVERS = ("parlour", "synapse")
BACKENDS = ("sqlite", "postgres")


def server_for(
    name: str, backend: str, work: Path, python: Path, source: Path | None
) -> AbstractContextManager[Running]:
    folder = work / f"{name}-{backend}"
    shutil.rmtree(folder, ignore_errors=True)
    if backend == "postgres":
        database = PARLOUR_DB if name == "parlour" else SYNAPSE_DB
        asyncio.run(fresh_database(database, c_locale=name == "synapse"))
    if name == "parlour":
        return parlour(folder, backend, source)
    return synapse(folder, python, backend)


async def _listen_all(
    chat: ChatClient, users: int, trackers: list[Tracker]
) -> list[asyncio.Task[None]]:
    """One listener per user, all routed to the current phase's tracker; waits until all ready."""
    readies = [asyncio.Event() for _ in range(users)]

    def sink(body: str, user: int) -> None:
        trackers[-1].seen(body, user)

    tasks = [asyncio.create_task(chat.listen(u, readies[u], sink)) for u in range(users)]
    waiting: asyncio.Future[Any] = asyncio.gather(*(r.wait() for r in readies))
    either: list[asyncio.Future[Any]] = [waiting, *tasks]
    done, _ = await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
    if waiting not in done:
        waiting.cancel()
        for task in tasks:
            task.cancel()
        raise RuntimeError(f"a listener stopped before it was ready: {done.pop().exception()!r}")
    return tasks


async def drive_server(
    server: Running, backend: str, args: argparse.Namespace, profile: Path | None
) -> dict[str, Any]:
    assert_loopback(server.url)
    make: Callable[..., ChatClient] = ParlourChat if server.name == "Parlour" else MatrixChat
    chat = make(server, args.users, args.concurrency)
    groups = layout(args.users)
    started = time.perf_counter()
    trackers: list[Tracker] = [Tracker()]
    listeners: list[asyncio.Task[None]] = []
    database = None
    if backend == "postgres":
        database = PARLOUR_DB if server.name == "Parlour" else SYNAPSE_DB
    phases = []
    try:
        await chat.seed(groups)
        listeners = await _listen_all(chat, args.users, trackers)
        seeded = time.perf_counter() - started
        rated = [Phase(f"{rate:g}/s", rate) for rate in args.rate]
        for phase in [Phase("full speed", None), *rated]:
            trackers.append(Tracker())
            sends = plan(groups, args.messages, phase.name.replace(" ", "-").replace("/", ""))
            with profiling(server, profile, phase.rate is None, args.synapse_python.parent):
                meters = Meters(server, database)
                phases.append(
                    await run_phase(
                        chat, groups, trackers[-1], sends, phase, meters, args.concurrency
                    )
                )
            print(f"  {server.name} {backend} {phase.name}: {_brief(phases[-1])}", flush=True)
    finally:
        for task in listeners:
            task.cancel()
        await asyncio.gather(*listeners, return_exceptions=True)
        await chat.close()
    return {
        "server": server.name,
        "version": server.version,
        "backend": backend,
        "users": args.users,
        "rooms": len(groups),
        "concurrency": args.concurrency,
        "seed_s": seeded,
        "phases": phases,
    }


def _brief(p: dict[str, Any]) -> str:
    return (
        f"{p['sends_per_s']:.0f} sends/s, delivery p50 {p['delivery_ms']['p50']:.0f} ms, "
        f"lost {p['lost']}, {p['wall_s']:.0f} s"
    )


@contextmanager
def profiling(server: Running, folder: Path | None, wanted: bool, spy_dir: Path) -> Iterator[None]:
    """Records Parlour's stacks with py-spy during the full-speed phase (--profile DIR)."""
    if folder is None or not wanted or server.name != "Parlour":
        yield
        return
    spy = shutil.which("py-spy") or str(spy_dir / "py-spy")  # the bench venv has one
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"parlour-{server.extra['backend']}.txt"
    args = [spy, "record", "--pid", str(server.pid), "--format", "raw", "--gil", "--nonblocking"]
    spying = subprocess.Popen([*args, "-o", str(out)], stdout=subprocess.DEVNULL)
    try:
        yield
    finally:
        spying.send_signal(signal.SIGINT)
        spying.wait(timeout=60)


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when present, so that the client spends less of the machine than the servers."""
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def run_all(args: argparse.Namespace) -> list[dict[str, Any]]:
    results = []
    for backend in args.backends:
        for name in args.servers:
            print(f"{name} on {backend}: starting", flush=True)
            started = time.perf_counter()
            starting = server_for(name, backend, args.work, args.synapse_python, args.source)
            with starting as server:
                server.extra["backend"] = backend
                with asyncio.Runner(loop_factory=_loop_factory()) as runner:
                    result = runner.run(drive_server(server, backend, args, args.profile))
            result["total_s"] = time.perf_counter() - started
            results.append(result)
            with (args.work / "servers.jsonl").open("a") as out:  # kept if a later run fails
                out.write(json.dumps(result) + "\n")
    return results


def machine(working_tree: bool) -> dict[str, Any]:
    meminfo = Path("/proc/meminfo").read_text().split()
    git = ["git", "describe", "--always", "--dirty" if working_tree else "HEAD"]
    commit = subprocess.run(git, capture_output=True, text=True, check=False).stdout.strip()
    return {
        "commit": ("working tree " if working_tree else "commit ") + (commit or "?"),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "python": platform.python_version(),
        "cores": os.cpu_count(),
        "ram_gib": int(meminfo[meminfo.index("MemTotal:") + 1]) / 2**20,
        "load": os.getloadavg(),
    }


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--messages", type=int, default=5000, help="messages in each phase")
    parser.add_argument("--concurrency", type=int, default=16, help="senders in parallel")
    parser.add_argument(
        "--rate", type=float, nargs="+", default=[50.0], help="fixed-rate phases, messages/s"
    )
    parser.add_argument("--servers", nargs="+", choices=SERVERS, default=list(SERVERS))
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    parser.add_argument("--work", type=Path, default=Path("bench/.work/vs-synapse"))
    parser.add_argument(
        "--synapse-python", type=Path, default=Path("bench/.work/synapse-venv/bin/python")
    )
    parser.add_argument("--doc", type=Path, default=Path("docs/benchmarks.md"))
    parser.add_argument("--no-doc", action="store_true", help="print the table only")
    parser.add_argument(
        "--working-tree",
        action="store_true",
        help="serve Parlour from the working tree instead of the committed HEAD",
    )
    parser.add_argument("--profile", type=Path, default=None, help="py-spy Parlour into DIR")
    return parser.parse_args()


def _terminate_as_exit(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # so that every `finally` stops what it started


def main() -> None:
    args = parse_args()
    # absolute but not resolved: the venv's python is a symlink that must stay in the venv
    args.work, args.synapse_python = args.work.absolute(), args.synapse_python.absolute()
    args.source = None if args.working_tree else snapshot_source(args.work / "parlour-head")
    signal.signal(signal.SIGTERM, _terminate_as_exit)
    if "synapse" in args.servers and not args.synapse_python.exists():
        raise SystemExit(f"no Synapse at {args.synapse_python}: run `make bench-vs-synapse`")
    host = machine(args.source is None)
    results = run_all(args)
    host["load_after"] = os.getloadavg()
    table = render(results, host)
    print(table)
    args.work.mkdir(parents=True, exist_ok=True)
    with (args.work / "results.jsonl").open("a") as out:
        out.write(json.dumps({"machine": host, "results": results}) + "\n")
    if not args.no_doc:
        write_doc(args.doc, table)
        print(f"appended to {args.doc}")


if __name__ == "__main__":
    main()
