"""Message fan-out: N stream clients in groups of several sizes; send rate and delivery latency.

    python -m bench.chat_fanout --backend sqlite              # 200 clients, defaults
    python -m bench.chat_fanout --backend postgres --json out.json   # PostgreSQL + Redis

One run starts a real `parlour serve` on a fresh database, seeds users, tokens and
conversations through the API, connects one stream per user, then measures in order:

- baseline: the same request loop (same count, concurrency and rate) on GET /health;
- full speed: ``--concurrency`` senders posting ``--messages`` messages as fast as they can;
- fixed rate: ``--rate`` messages per second for ``--rate-seconds``, with its own baseline.

Figures are absolute and as ratios to the baseline of the same run, so runs on different
machines (or a busy one) can still be compared.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import random
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import websockets

from bench import proctree
from bench.harness import (
    PASSWORD,
    REDIS,
    Drive,
    Server,
    drive,
    own_cpu_seconds,
    parlour_server,
    postgres_database,
    py_spy,
    summary,
)
from parlour import __version__

GROUP_SIZES = (2, 10, 50)
DRAIN_SECONDS = 60.0


@dataclass
class User:
    id: str
    token: str


@dataclass
class Deliveries:
    """What the stream clients saw, checked against what should arrive: every message once
    to every other member of its conversation, one latency per (message, receiver)."""

    pending: dict[str, set[str]] = field(default_factory=dict)  # message key -> still due
    receivers: dict[str, frozenset[str]] = field(default_factory=dict)  # message key -> all
    latencies_ms: list[tuple[str, int, float]] = field(default_factory=list)  # key, size, ms
    duplicates: int = 0
    strays: int = 0  # a bench message at someone who is not a member
    streams_ended: list[str] = field(default_factory=list)  # closed by the server mid-run
    out_of_order: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def expect(self, key: str, receivers: list[str]) -> None:
        self.pending[key] = set(receivers)
        self.receivers[key] = frozenset(receivers)

    def outstanding(self) -> int:
        return sum(len(r) for r in self.pending.values())

    def seen(self, key: str, receiver: str, sent_ns: int) -> None:
        ms = (time.perf_counter_ns() - sent_ns) / 1e6
        if receiver not in self.receivers.get(key, ()):
            self.strays += 1
            return
        waiting = self.pending.get(key)
        if waiting is None or receiver not in waiting:
            self.duplicates += 1
            return
        waiting.discard(receiver)
        if not waiting:
            del self.pending[key]
        self.latencies_ms.append((key, len(self.receivers[key]) + 1, ms))
        if not self.pending:
            self.changed.set()

    async def drained(self, seconds: float) -> None:
        if not self.pending:
            return
        self.changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.changed.wait(), seconds)


# -- seeding ------------------------------------------------------------------------------


def _person(i: int, **extra: str) -> dict[str, Any]:
    return {
        "name": f"Bench {i}",
        "email": f"bench{i}@example.org",
        "password": PASSWORD,
        "birth_date": "1990-01-01",
        "accept_policy": "2026-11-01",
        **extra,
    }


async def _invitation(server: Server) -> str:
    token = server.setup_link.split("token=")[1]
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
        owner = await http.post("/api/v1/setup", json=_person(0, token=token, org_name="Bench"))
        owner.raise_for_status()
        http.headers["X-CSRF-Token"] = owner.json()["csrf_token"]
        org_id = owner.json()["user"]["org_id"]
        made = await http.post(f"/api/v1/orgs/{org_id}/invitations", json={})
        made.raise_for_status()
    link: str = made.json()["link"]
    return link.split("invitation=")[1]


async def make_users(server: Server, count: int) -> list[User]:
    """Sign-ups and API tokens through the public API (cheap hashing on the bench server)."""
    invitation = await _invitation(server)
    limit = asyncio.Semaphore(8)

    async def one(i: int) -> User:
        # A client per user: sign-up sets a session cookie that must not leak to the next.
        async with limit, httpx.AsyncClient(base_url=server.url, timeout=60) as http:
            if i > 0:
                joined = await http.post(
                    "/api/v1/auth/signup", json=_person(i, invitation=invitation)
                )
                joined.raise_for_status()
            made = await http.post(
                "/api/v1/auth/tokens",
                json={"email": f"bench{i}@example.org", "password": PASSWORD, "name": "bench"},
            )
            made.raise_for_status()
            token = made.json()["token"]
            me = await http.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
            me.raise_for_status()
            return User(me.json()["id"], token)

    return list(await asyncio.gather(*(one(i) for i in range(count))))


def layout(users: list[User]) -> list[list[User]]:
    """Half the users in pairs, a quarter in groups of 10, the rest in groups of up to 50."""
    n = len(users)
    bounds = (0, n // 2, n // 2 + n // 4, n)
    groups: list[list[User]] = []
    for size, start, end in zip(GROUP_SIZES, bounds[:-1], bounds[1:], strict=True):
        groups += [users[i : min(i + size, end)] for i in range(start, end, size)]
    return [g for g in groups if len(g) >= 2]


async def create_conversations(
    server: Server, groups: list[list[User]]
) -> list[tuple[str, list[User]]]:
    out: list[tuple[str, list[User]]] = []
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
        for members in groups:
            head = {"Authorization": f"Bearer {members[0].token}"}
            body: dict[str, Any] = (
                {"kind": "direct", "user_id": members[1].id}
                if len(members) == 2
                else {
                    "kind": "group",
                    "name": f"g{len(out)}",
                    "member_ids": [u.id for u in members[1:]],
                }
            )
            made = await http.post("/api/v1/conversations", json=body, headers=head)
            made.raise_for_status()
            out.append((made.json()["id"], members))
    return out


# -- streams ------------------------------------------------------------------------------


async def listen(address: str, user: User, seen: Deliveries, ready: asyncio.Queue[str]) -> None:
    """One user's stream: counts bench messages from others and checks ids only grow."""
    try:
        await _listen(address, user, seen, ready)
    except Exception as exc:  # the server closed it or it failed: it shows in the report
        seen.streams_ended.append(repr(exc))
        raise
    seen.streams_ended.append("closed by the server")


async def _listen(address: str, user: User, seen: Deliveries, ready: asyncio.Queue[str]) -> None:
    async with websockets.connect(
        f"ws://{address}/api/v1/stream",
        additional_headers={"Authorization": f"Bearer {user.token}"},
        max_queue=None,
    ) as ws:
        last_id = 0
        async for raw in ws:
            frame = json.loads(raw)
            if frame["type"] == "ready":
                ready.put_nowait(user.id)
            if frame["type"] != "message.created":
                continue
            if frame["id"] <= last_id:
                seen.out_of_order += 1
            last_id = frame["id"]
            message = frame["data"]["message"]
            body = message["body"] or ""
            if body.startswith("bench:") and message["sender_id"] != user.id:
                _bench, phase, i, sent_ns = body.split(":")
                seen.seen(f"{phase}:{i}", user.id, int(sent_ns))


@contextlib.asynccontextmanager
async def streams(server: Server, users: list[User], seen: Deliveries) -> AsyncIterator[None]:
    ready: asyncio.Queue[str] = asyncio.Queue()
    tasks = [asyncio.create_task(listen(server.address, u, seen, ready)) for u in users]
    try:
        for _ in users:
            await asyncio.wait_for(ready.get(), 60)
        yield
    finally:
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        failed = [r for r in results if isinstance(r, Exception)]
        if failed:
            print(f"  note: {len(failed)} stream clients ended with {failed[0]!r}")


# -- phases -------------------------------------------------------------------------------


@dataclass
class Workload:
    server: Server
    conversations: list[tuple[str, list[User]]]
    seen: Deliveries
    concurrency: int

    def plan(self, count: int, seed: int) -> list[tuple[str, User, list[str]]]:
        """Which conversation each message goes to (uniformly), its sender (a member) and
        the members who must receive it (all the others)."""
        rng = random.Random(seed)
        out = []
        for _ in range(count):
            cid, members = rng.choice(self.conversations)
            sender = rng.choice(members)
            out.append((cid, sender, [u.id for u in members if u.id != sender.id]))
        return out


async def baseline(work: Workload, count: int, rate: float | None) -> Drive:
    token = work.conversations[0][1][0].token
    limits = httpx.Limits(max_connections=work.concurrency)
    async with httpx.AsyncClient(base_url=work.server.url, limits=limits) as http:

        async def health(_i: int) -> None:
            got = await http.get("/health", headers={"Authorization": f"Bearer {token}"})
            got.raise_for_status()

        return await drive(count, work.concurrency, rate, health)


async def sends(
    work: Workload, tag: str, count: int, rate: float | None, seed: int
) -> dict[str, Any]:
    plan = work.plan(count, seed)
    for i, (_cid, _sender, receivers) in enumerate(plan):
        work.seen.expect(f"{tag}:{i}", receivers)
    limits = httpx.Limits(max_connections=work.concurrency)
    pid = work.server.process.pid
    cpu0, client0 = proctree.tree_cpu_seconds(pid), own_cpu_seconds()
    async with httpx.AsyncClient(base_url=work.server.url, timeout=60, limits=limits) as http:

        async def send(i: int) -> None:
            cid, sender, _receivers = plan[i]
            posted = await http.post(
                f"/api/v1/conversations/{cid}/messages",
                json={"body": f"bench:{tag}:{i}:{time.perf_counter_ns()}"},
                headers={"Authorization": f"Bearer {sender.token}"},
            )
            posted.raise_for_status()

        result = await drive(count, work.concurrency, rate, send)
        await work.seen.drained(DRAIN_SECONDS)
    cpu = proctree.tree_cpu_seconds(pid) - cpu0
    return {
        "messages": count,
        "sends_per_s": result.per_second,
        "send_ms": summary(result.latencies_ms),
        "server_cpu_s": cpu,
        "server_cpu_ms_per_message": 1000 * cpu / count,
        "client_cpu_s": own_cpu_seconds() - client0,
    }


def _by_group_size(delivered: list[tuple[str, int, float]]) -> dict[str, dict[str, float]]:
    sizes = sorted({size for _key, size, _ms in delivered})
    return {
        str(size): {
            "deliveries": len(ms := [m for _k, s, m in delivered if s == size]),
            **summary(ms),
        }
        for size in sizes
    }


async def phase(
    work: Workload, name: str, count: int, rate: float | None, seed: int
) -> dict[str, Any]:
    tag = str(seed)
    base = await baseline(work, count, rate)
    out = await sends(work, tag, count, rate, seed)
    mine = f"{tag}:"
    delivered = [d for d in work.seen.latencies_ms if d[0].startswith(mine)]
    expected = sum(len(r) for k, r in work.seen.receivers.items() if k.startswith(mine))
    lost = sum(len(r) for k, r in work.seen.pending.items() if k.startswith(mine))
    deliveries = summary([ms for _key, _size, ms in delivered])
    base_ms = summary(base.latencies_ms)
    out.update(
        phase=name,
        rate_limit=rate,
        rate_held=None if rate is None else out["sends_per_s"] >= 0.95 * rate,
        expected_deliveries=expected,
        deliveries=len(delivered),
        lost=lost,
        delivery_ms=deliveries,
        delivery_ms_by_group_size=_by_group_size(delivered),
        baseline_per_s=base.per_second,
        baseline_ms=base_ms,
        sends_per_s_x_baseline=out["sends_per_s"] / base.per_second,
        send_p50_x_baseline=out["send_ms"]["p50"] / base_ms["p50"],
        send_p95_x_baseline=out["send_ms"]["p95"] / base_ms["p95"],
        delivery_p50_x_baseline=deliveries["p50"] / base_ms["p50"],
        delivery_p95_x_baseline=deliveries["p95"] / base_ms["p95"],
        server_rss_mib=proctree.tree_rss_bytes(work.server.process.pid) / 2**20,
    )
    return out


async def run_all(server: Server, args: argparse.Namespace) -> dict[str, Any]:
    t0 = time.perf_counter()
    users = await make_users(server, args.clients)
    conversations = await create_conversations(server, layout(users))
    seeded_s = time.perf_counter() - t0
    seen = Deliveries()
    work = Workload(server, conversations, seen, args.concurrency)
    phases = []
    pid = server.process.pid
    async with streams(server, users, seen):
        idle_rss = proctree.tree_rss_bytes(pid) / 2**20
        peak = proctree.PeakRss(pid)
        peak.start()
        with py_spy(pid, args.py_spy):
            phases.append(await phase(work, "full speed", args.messages, None, seed=7))
        if args.rate > 0:
            count = round(args.rate * args.rate_seconds)
            phases.append(await phase(work, f"{args.rate:g}/s", count, args.rate, seed=8))
        peak_mib = await peak.stop()
    return {
        "clients": args.clients,
        "conversations": len(conversations),
        "group_sizes": sorted({len(m) for _cid, m in conversations}),
        "concurrency": args.concurrency,
        "seed_seconds": seeded_s,
        "server_processes": len(proctree.descendants(pid)),
        "server_rss_mib_streams_open": idle_rss,
        "server_peak_rss_mib": peak_mib,
        "server_peak_rss_mib_whole_run": server.peak_rss_mib(),
        "out_of_order": seen.out_of_order,
        "duplicates": seen.duplicates,
        "strays": seen.strays,
        "streams_ended": len(seen.streams_ended),
        "streams_ended_first": seen.streams_ended[0] if seen.streams_ended else None,
        "phases": phases,
    }


# -- running and reporting ----------------------------------------------------------------


@contextlib.contextmanager
def backend_settings(backend: str) -> Iterator[dict[str, str]]:
    if backend == "sqlite":
        yield {}
        return
    with postgres_database("parlour_bench") as url:
        yield {"database_url": url, "redis_url": REDIS}


def environment() -> dict[str, Any]:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "version": __version__,
        "commit": commit or None,
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    work_dir = Path(tempfile.mkdtemp(prefix="parlour-bench-"))
    meta = environment()
    try:
        with (
            backend_settings(args.backend) as settings,
            parlour_server(work_dir, **settings) as server,
        ):
            result = _run_async(run_all(server, args))
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    meta["load_average_after"] = os.getloadavg()
    return {"benchmark": "chat_fanout", "backend": args.backend, **meta, **result}


def report(r: dict[str, Any]) -> None:
    load = " ".join(f"{x:.2f}" for x in r["load_average"])
    after = " ".join(f"{x:.2f}" for x in r["load_average_after"])
    print(
        f"\nchat fan-out on {r['backend']}: {r['clients']} stream clients, "
        f"{r['conversations']} conversations (sizes {r['group_sizes']}), "
        f"{r['concurrency']} senders; {r['cpus']} CPUs, load {load} before, {after} after"
    )
    head = (
        f"  {'phase':<11}{'sends/s':>9}{'x base':>8}{'send p50':>10}{'p95':>8}"
        f"{'deliv p50':>11}{'p95':>8}{'p99':>8}{'x base':>8}{'lost':>6}{'cpu ms/msg':>12}"
    )
    print(head)
    for p in r["phases"]:
        s, d = p["send_ms"], p["delivery_ms"]
        print(
            f"  {p['phase']:<11}{p['sends_per_s']:>9.1f}{p['sends_per_s_x_baseline']:>8.3f}"
            f"{s['p50']:>10.1f}{s['p95']:>8.1f}{d['p50']:>11.1f}{d['p95']:>8.1f}{d['p99']:>8.1f}"
            f"{p['delivery_p50_x_baseline']:>8.1f}{p['lost']:>6}"
            f"{p['server_cpu_ms_per_message']:>12.2f}"
        )
    for p in r["phases"]:
        b = p["baseline_ms"]
        held = (
            ""
            if p["rate_held"] is None
            else (" (rate held)" if p["rate_held"] else " (rate NOT held)")
        )
        sizes = ", ".join(
            f"{size}: p50 {g['p50']:.0f} p95 {g['p95']:.0f}"
            for size, g in p["delivery_ms_by_group_size"].items()
        )
        print(
            f"  {p['phase']}{held}: {p['deliveries']}/{p['expected_deliveries']} deliveries; "
            f"by group size (ms) {sizes}\n"
            f"    baseline GET /health {p['baseline_per_s']:.0f}/s, "
            f"p50 {b['p50']:.2f} ms, p95 {b['p95']:.2f} ms; server CPU {p['server_cpu_s']:.1f} s, "
            f"client CPU {p['client_cpu_s']:.1f} s"
        )
    print(
        f"  server RSS ({r['server_processes']} process(es)): "
        f"{r['server_rss_mib_streams_open']:.0f} MiB with streams open, "
        f"peak {r['server_peak_rss_mib']:.0f} MiB while sending; "
        f"out-of-order {r['out_of_order']}, duplicates {r['duplicates']}, "
        f"strays {r['strays']}; seeding {r['seed_seconds']:.1f} s"
    )
    if r["streams_ended"]:
        print(f"  {r['streams_ended']} streams ended early, first: {r['streams_ended_first']}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--clients", type=int, default=200, help="stream clients (users)")
    parser.add_argument("--messages", type=int, default=2000, help="messages at full speed")
    parser.add_argument("--concurrency", type=int, default=16, help="senders in parallel")
    parser.add_argument("--rate", type=float, default=50, help="fixed-rate phase, messages/s")
    parser.add_argument("--rate-seconds", type=float, default=10, help="fixed-rate duration")
    parser.add_argument(
        "--json", default=None, help="also write results here; {backend} is replaced"
    )
    parser.add_argument(
        "--py-spy", type=Path, default=None, help="profile the full-speed phase into this file"
    )
    return parser.parse_args()


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop  # the client must not be the bottleneck on a small machine
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def _run_async(work: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(work)


def main() -> None:
    args = parse_args()
    result = run(args)
    report(result)
    if args.json is not None:
        path = Path(args.json.format(backend=args.backend))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
