"""The workload of the Synapse comparison, identical for both servers.

Users sit in rooms of 2, 10 and 50 people. A seeded plan says, for every message, which room it
goes to and which member sends it; both servers get the same plan. A message counts as
delivered when every other member of its room has seen its (unique) body on their listener.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from dataclasses import dataclass, field
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from bench.harness import drive, own_cpu_seconds, summary
from bench.proctree import PeakRss, tree_cpu_seconds
from bench.vs_clients import ChatClient
from bench.vs_servers import PG_HOST, PG_PORT, PG_USER, DatabaseCpu, Running

ROOM_SIZES = (2, 10, 50)
DRAIN_SECONDS = 60.0


def layout(users: int) -> list[list[int]]:
    """Every user in one room of each size: pairs, tens, fifties (as many as fit)."""
    return [
        list(range(start, start + size))
        for size in ROOM_SIZES
        for start in range(0, users - size + 1, size)
    ]


@dataclass(frozen=True)
class Send:
    room: int
    sender: int
    body: str
    key: str


def plan(groups: list[list[int]], messages: int, phase: str, seed: int = 6) -> list[Send]:
    """A room picked at random for each message, and a random member of it as the sender."""
    rng = random.Random(f"{seed}:{phase}")
    sends = []
    for i in range(messages):
        room = rng.randrange(len(groups))
        key = f"{phase}-{i}-{rng.getrandbits(48):012x}"
        sends.append(Send(room, rng.choice(groups[room]), f"bench {key}", key))
    return sends


@dataclass
class Tracker:
    """Who has yet to see which message; one latency per message, taken at its last receiver."""

    waiting: dict[str, set[int]] = field(default_factory=dict)
    sent_ns: dict[str, int] = field(default_factory=dict)
    all_seen_ms: list[float] = field(default_factory=list)
    each_ms: list[float] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    sending: bool = True

    def expect(self, body: str, receivers: set[int]) -> None:
        self.waiting[body] = receivers
        self.sent_ns[body] = time.perf_counter_ns()

    def forget(self, body: str) -> None:
        self.waiting.pop(body, None)

    def seen(self, body: str, user: int) -> None:
        left = self.waiting.get(body)
        if left is None or user not in left:
            return
        left.discard(user)
        elapsed = (time.perf_counter_ns() - self.sent_ns[body]) / 1e6
        self.each_ms.append(elapsed)
        if not left:
            del self.waiting[body]
            self.all_seen_ms.append(elapsed)
            if not self.waiting and not self.sending:
                self.done.set()

    def finished_sending(self) -> None:
        self.sending = False
        if not self.waiting:
            self.done.set()

    @property
    def lost(self) -> int:
        return sum(len(left) for left in self.waiting.values())


class Meters:
    """Server CPU (process tree), peak RSS, database backends' CPU and the client's own CPU."""

    def __init__(self, server: Running, database: str | None) -> None:
        self.server = server
        self.rss = PeakRss(server.pid)
        self.db = DatabaseCpu(database) if database else None
        self._db_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.cpu0, self.own0 = tree_cpu_seconds(self.server.pid), own_cpu_seconds()
        self.t0 = time.perf_counter()
        self.rss.start()
        if self.db is not None:
            conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER)
            await self.db.sample(conn)
            self._db_task = asyncio.create_task(self._sample_db(conn))

    async def _sample_db(self, conn: asyncpg.Connection) -> None:
        try:
            while True:
                await asyncio.sleep(1.0)
                await self.db.sample(conn)  # type: ignore[union-attr]
        finally:
            await self.db.sample(conn)  # type: ignore[union-attr]
            await conn.close()

    async def stop(self) -> dict[str, float]:
        wall = time.perf_counter() - self.t0
        figures = {
            "server_cpu_s": tree_cpu_seconds(self.server.pid) - self.cpu0,
            "client_cpu_s": own_cpu_seconds() - self.own0,
            "wall_s": wall,
            "peak_rss_mib": await self.rss.stop(),
        }
        if self._db_task is not None and self.db is not None:
            self._db_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._db_task
            figures["db_cpu_s"] = self.db.seconds()
        return figures


@dataclass
class Phase:
    name: str
    rate: float | None  # messages/s; None: as fast as the senders go


async def run_phase(
    chat: ChatClient,
    groups: list[list[int]],
    tracker: Tracker,
    sends: list[Send],
    phase: Phase,
    meters: Meters,
    concurrency: int,
) -> dict[str, Any]:
    errors = 0

    async def one(i: int) -> None:
        nonlocal errors
        s = sends[i]
        tracker.expect(s.body, set(groups[s.room]) - {s.sender})
        try:
            await chat.send(s.sender, s.room, s.body, s.key)
        except Exception:
            errors += 1
            tracker.forget(s.body)

    await meters.start()
    gaps = chat.gaps
    sent = await drive(len(sends), concurrency, phase.rate, one)
    tracker.finished_sending()
    drained = time.perf_counter()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(tracker.done.wait(), DRAIN_SECONDS)
    figures = await meters.stop()
    return {
        "phase": phase.name,
        "messages": len(sends),
        "sends_per_s": len(sends) / sent.elapsed_s,
        "send_s": sent.elapsed_s,
        "drain_s": time.perf_counter() - drained,
        "send_ms": summary(sent.latencies_ms),
        "delivery_ms": summary(tracker.all_seen_ms),
        "each_delivery_ms": summary(tracker.each_ms),
        "deliveries": len(tracker.each_ms),
        "lost": tracker.lost,
        "send_errors": errors,
        "interruptions": chat.gaps - gaps,
        "server_cpu_ms_per_message": figures["server_cpu_s"] * 1000 / len(sends),
        **figures,
    }
