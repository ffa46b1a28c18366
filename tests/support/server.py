"""Runs `parlour serve` as a real process on a free port, and stops it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.live import free_port

SECRET = "process-test-secret-key-0123456789abcdef"
LINK = re.compile(r"(http://\S+/setup\?token=\S+)")


@dataclass
class ServerProcess:
    address: str
    process: subprocess.Popen[str]
    setup_link: str | None

    @property
    def url(self) -> str:
        return f"http://{self.address}"


def parlour_env(data_dir: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLOUR_")}
    env.update(
        PARLOUR_DATA_DIR=str(data_dir),
        PARLOUR_SECRET_KEY=SECRET,
        PARLOUR_PASSWORD_TIME_COST="1",
        PARLOUR_PASSWORD_MEMORY_COST="1024",
        PARLOUR_LOG_JSON="true",
    )
    env.update({f"PARLOUR_{k.upper()}": v for k, v in settings.items()})
    return env


def parlour(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "parlour", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@contextmanager
def parlour_serve(data_dir: Path, **settings: str) -> Iterator[ServerProcess]:
    """Migrates, serves on a free port, waits for /health (bounded), and stops on exit."""
    port = free_port()
    env = parlour_env(data_dir, port=str(port), **settings)
    migrated = parlour("migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr
    process = subprocess.Popen(
        [sys.executable, "-m", "parlour", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        link = _wait_ready(process, port)
        yield ServerProcess(f"127.0.0.1:{port}", process, link)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _wait_ready(process: subprocess.Popen[str], port: int) -> str | None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"parlour serve exited with {process.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    else:
        raise AssertionError("parlour serve did not answer /health within 60 s")
    return _read_setup_link(process)


def _read_setup_link(process: subprocess.Popen[str]) -> str | None:
    """The banner is printed before serving starts, so it is in the pipe by now."""
    assert process.stdout is not None
    os.set_blocking(process.stdout.fileno(), False)
    text = process.stdout.read() or ""
    match = LINK.search(text)
    return match.group(1) if match else None
