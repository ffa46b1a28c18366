"""Shared pieces of the benchmarks: a Parlour process, a request driver, statistics."""

from __future__ import annotations

import asyncio
import os
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import httpx

SECRET = "bench-secret-key-0123456789abcdef0123456789"
PASSWORD = "bench password 1234"
LINK = re.compile(r"(http://\S+/setup\?token=\S+)")
POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS = "redis://127.0.0.1:6379/0"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Server:
    url: str
    process: subprocess.Popen[str]
    setup_link: str

    @property
    def address(self) -> str:
        return self.url.removeprefix("http://")

    def _status(self, key: str) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        match = re.search(rf"{key}:\s+(\d+) kB", status)
        return int(match.group(1)) / 1024 if match else float("nan")

    def peak_rss_mib(self) -> float:
        """VmHWM: the most resident memory the server process ever held."""
        return self._status("VmHWM")

    def rss_mib(self) -> float:
        return self._status("VmRSS")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks


def own_cpu_seconds() -> float:
    """CPU time of the benchmark client itself: on a small machine it competes with the server."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def bench_env(data_dir: Path, **settings: str) -> dict[str, str]:
    """A server for measuring, not for people: cheap password hashing makes seeding fast."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLOUR_")}
    env.update(
        PARLOUR_DATA_DIR=str(data_dir),
        PARLOUR_SECRET_KEY=SECRET,
        PARLOUR_PASSWORD_TIME_COST="1",
        PARLOUR_PASSWORD_MEMORY_COST="1024",
        PARLOUR_LOG_LEVEL="WARNING",
        PARLOUR_SIGNIN_MAX_FAILURES_PER_ADDRESS="100000",
    )
    env.update({f"PARLOUR_{k.upper()}": v for k, v in settings.items()})
    return env


@contextmanager
def parlour_server(data_dir: Path, **settings: str) -> Iterator[Server]:
    """Migrates, serves on a free port, waits for /health, and stops the process on exit."""
    port = free_port()
    env = bench_env(data_dir, port=str(port), **settings)
    subprocess.run(
        [sys.executable, "-m", "parlour", "migrate"],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    log_path = data_dir / "server.out"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "parlour", "serve"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_healthy(process, url, log_path)
            match = LINK.search(log_path.read_text())
            if match is None:
                raise RuntimeError("no setup link printed; is the data folder fresh?")
            yield Server(url, process, match.group(1))
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


def _wait_healthy(process: subprocess.Popen[str], url: str, log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"parlour serve exited:\n{log_path.read_text()[-2000:]}")
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"parlour did not answer /health within 60 s; see {log_path}")


@contextmanager
def py_spy(pid: int, path: Path | None) -> Iterator[None]:
    """Samples the server while the block runs (py-spy must be installed; bench only)."""
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    spy = subprocess.Popen(
        [
            *("py-spy", "record", "--pid", str(pid), "--rate", "250", "--format", "raw"),
            *("--gil", "--nonblocking", "--output", str(path)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)  # attached before the workload starts
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        spy.wait(timeout=60)


@contextmanager
def postgres_database(name: str) -> Iterator[str]:
    """A fresh database on the local PostgreSQL for one run, dropped afterwards."""
    asyncio.run(_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", f"CREATE DATABASE {name}"))
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    finally:
        asyncio.run(_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


async def _admin(*statements: str) -> None:
    conn = await asyncpg.connect(POSTGRES_ADMIN)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@dataclass
class Drive:
    """What a request loop measured: how many per second, and how long each took."""

    elapsed_s: float
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def per_second(self) -> float:
        return len(self.latencies_ms) / self.elapsed_s if self.elapsed_s else float("nan")


async def drive(
    count: int,
    concurrency: int,
    rate: float | None,
    request: Callable[[int], Awaitable[None]],
) -> Drive:
    """Runs ``request(i)`` for i in range(count) from ``concurrency`` loops, as fast as they
    go or started at ``rate`` per second; the same loop serves the baseline and the workload."""
    pending = iter(range(count))
    latencies: list[float] = []
    started = time.perf_counter()

    async def loop() -> None:
        for i in pending:
            if rate:
                await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
            t0 = time.perf_counter_ns()
            await request(i)
            latencies.append((time.perf_counter_ns() - t0) / 1e6)

    await asyncio.gather(*(loop() for _ in range(concurrency)))
    return Drive(time.perf_counter() - started, latencies)


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "mean": statistics.fmean(values) if values else float("nan"),
    }
