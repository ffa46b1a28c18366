"""The two servers of the Synapse comparison, each started in its own process group on loopback.

Parlour runs as `parlour serve`; Synapse as a monolith from its own virtual environment with a
generated config: client API only, no federation, registration closed except through the
shared-secret admin API, rate limits lifted, no presence, no URL previews, no stats reporting.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx

from bench.harness import LINK, bench_env, free_port
from bench.proctree import cpu_seconds

LOOPBACK = "127.0.0.1"
PG_HOST, PG_PORT, PG_USER = LOOPBACK, 5432, "postgres"
PARLOUR_DB = "parlour_vs_bench"
SYNAPSE_DB = "synapse_bench"
REDIS_URL = f"redis://{LOOPBACK}:6379/0"
SYNAPSE_NAME = "bench.localhost"
UNLIMITED = {"per_second": 1_000_000, "burst_count": 1_000_000}


@dataclass
class Running:
    """A started server: where it answers and the process group that is all of it."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    version: str
    extra: dict[str, str]

    @property
    def pid(self) -> int:
        return self.process.pid


def assert_loopback(url: str) -> None:
    host = httpx.URL(url).host
    if host != LOOPBACK:
        raise SystemExit(f"refusing to benchmark {url}: only {LOOPBACK} is allowed")


@contextmanager
def process_group(args: list[str], log: Path, **popen: Any) -> Iterator[subprocess.Popen[bytes]]:
    """Starts a process in a new session; on exit stops the whole group, politely then not."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **popen
        )
    try:
        yield process
    finally:
        _stop_group(process)


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path, within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}; see {log}")
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer /health within {within:.0f} s; see {log}")


async def fresh_database(name: str, *, c_locale: bool = False) -> None:
    """Drops and recreates a database on the local PostgreSQL."""
    conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database="postgres")
    locale = " ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0" if c_locale else ""
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"{locale}')
    finally:
        await conn.close()


# Parlour


def parlour_version(env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "parlour", "--version"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip().removeprefix("parlour ").strip()


def snapshot_source(into: Path) -> Path | None:
    """The committed tree's src/ extracted into the work folder, so that the bench measures
    HEAD and not whatever is half-edited in the working tree; None outside a git checkout."""
    archive = subprocess.run(["git", "archive", "HEAD", "src"], capture_output=True, check=False)
    if archive.returncode != 0:
        return None
    shutil.rmtree(into, ignore_errors=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


@contextmanager
def parlour(work: Path, backend: str, source: Path | None) -> Iterator[Running]:
    """`parlour serve` on a fresh data folder (and, on PostgreSQL, a fresh database + Redis),
    from `source` (a src/ folder) when given, else from the installed package."""
    work.mkdir(parents=True, exist_ok=True)
    port = free_port()
    settings = {"host": LOOPBACK, "port": str(port)}
    if backend == "postgres":
        url = f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{PARLOUR_DB}"
        settings |= {"database_url": url, "redis_url": REDIS_URL}
    env = bench_env(work, **settings)
    if source is not None:
        env["PYTHONPATH"] = str(source)
    migrated = subprocess.run(
        [sys.executable, "-m", "parlour", "migrate"], env=env, capture_output=True, text=True
    )
    if migrated.returncode != 0:
        raise RuntimeError(f"parlour migrate failed:\n{migrated.stderr[-2000:]}")
    log = work / "server.out"
    with process_group([sys.executable, "-m", "parlour", "serve"], log, env=env) as process:
        base = f"http://{LOOPBACK}:{port}"
        wait_healthy(base, process, log, 60)
        match = LINK.search(log.read_text())
        if match is None:
            raise RuntimeError(f"no setup link in {log}; is the data folder fresh?")
        version = parlour_version(env)
        yield Running("Parlour", base, process, version, {"setup": match.group(1)})


# Synapse


def synapse_version(python: Path) -> str:
    code = "import importlib.metadata as m; print(m.version('matrix-synapse'))"
    return subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()


def _synapse_database(work: Path, backend: str) -> dict[str, Any]:
    if backend == "sqlite":
        return {"name": "sqlite3", "args": {"database": str(work / "homeserver.db")}}
    args = {"user": PG_USER, "host": PG_HOST, "port": PG_PORT, "database": SYNAPSE_DB}
    return {"name": "psycopg2", "args": {**args, "cp_min": 5, "cp_max": 10}}


def _rate_limits() -> dict[str, Any]:
    flat = [
        "rc_message",
        "rc_registration",
        "rc_registration_token_validity",
        "rc_admin_redaction",
        "rc_joins_per_room",
        "rc_3pid_validation",
        "rc_third_party_invite",
        "rc_media_create",
        "rc_key_requests",
        "rc_delayed_event_mgmt",
        "rc_room_creation",
        "rc_reports",
        "rc_user_directory",
        "rc_profile",
    ]
    limits: dict[str, Any] = dict.fromkeys(flat, UNLIMITED)
    limits["rc_login"] = dict.fromkeys(("address", "account", "failed_attempts"), UNLIMITED)
    limits["rc_joins"] = dict.fromkeys(("local", "remote"), UNLIMITED)
    limits["rc_invites"] = dict.fromkeys(("per_room", "per_user", "per_issuer"), UNLIMITED)
    limits["rc_presence"] = {"per_user": UNLIMITED}
    return limits


def synapse_config(work: Path, port: int, backend: str, shared_secret: str) -> dict[str, Any]:
    """The whole homeserver config; JSON is YAML, so it is written as JSON."""
    listener = {
        "port": port,
        "bind_addresses": [LOOPBACK],
        "type": "http",
        "tls": False,
        "x_forwarded": False,
        "resources": [{"names": ["client"], "compress": False}],
    }
    return {
        "server_name": SYNAPSE_NAME,
        "public_baseurl": f"http://{LOOPBACK}:{port}/",
        "pid_file": str(work / "homeserver.pid"),
        "listeners": [listener],
        "database": _synapse_database(work, backend),
        "log_config": str(work / "log.config"),
        "media_store_path": str(work / "media_store"),
        "signing_key_path": str(work / "signing.key"),
        "report_stats": False,
        "enable_metrics": False,
        "enable_registration": False,
        "registration_shared_secret": shared_secret,
        "macaroon_secret_key": secrets.token_hex(32),
        "form_secret": secrets.token_hex(32),
        "bcrypt_rounds": 4,  # like Parlour's lowered argon2 cost: set-up speed only
        "federation_domain_whitelist": [],
        "federation_sender_instances": [],
        "trusted_key_servers": [],
        "suppress_key_server_warning": True,
        "allow_public_rooms_over_federation": False,
        "presence": {"enabled": False},
        "url_preview_enabled": False,
        **_rate_limits(),
    }


def _log_config(work: Path) -> dict[str, Any]:
    handler = {
        "class": "logging.FileHandler",
        "filename": str(work / "homeserver.log"),
        "formatter": "plain",
    }
    return {
        "version": 1,
        "formatters": {"plain": {"format": "%(asctime)s %(name)s %(levelname)s %(message)s"}},
        "handlers": {"file": handler},
        "root": {"level": "WARNING", "handlers": ["file"]},
        "disable_existing_loggers": False,
    }


def write_synapse_config(work: Path, python: Path, port: int, backend: str) -> tuple[Path, str]:
    work.mkdir(parents=True, exist_ok=True)
    shared_secret = secrets.token_hex(32)
    config = synapse_config(work, port, backend, shared_secret)
    for listener in config["listeners"]:
        assert listener["bind_addresses"] == [LOOPBACK]
    assert config["federation_domain_whitelist"] == []
    path = work / "homeserver.yaml"
    path.write_text(json.dumps(config, indent=2))
    (work / "log.config").write_text(json.dumps(_log_config(work), indent=2))
    keys = [str(python), "-m", "synapse.app.homeserver", "-c", str(path), "--generate-keys"]
    subprocess.run(keys, cwd=work, check=True, capture_output=True)
    return path, shared_secret


@contextmanager
def synapse(work: Path, python: Path, backend: str) -> Iterator[Running]:
    """Synapse on a fresh working folder (and, on PostgreSQL, the fresh database)."""
    port = free_port()
    config, shared_secret = write_synapse_config(work, python, port, backend)
    args = [str(python), "-m", "synapse.app.homeserver", "-c", str(config)]
    log = work / "server.out"
    with process_group(args, log, cwd=work) as process:
        base = f"http://{LOOPBACK}:{port}"
        wait_healthy(base, process, log, 180)
        version = synapse_version(python)
        yield Running("Synapse", base, process, version, {"shared_secret": shared_secret})


class DatabaseCpu:
    """CPU time of the PostgreSQL backends serving one database, sampled while they live."""

    def __init__(self, database: str) -> None:
        self.database = database
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self._started = False

    async def sample(self, conn: asyncpg.Connection) -> None:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1", self.database
        )
        for row in rows:
            used = cpu_seconds([row["pid"]])
            # a backend that appears after the first sample started during the phase
            self.first.setdefault(row["pid"], 0.0 if self._started else used)
            self.last[row["pid"]] = used
        self._started = True

    def seconds(self) -> float:
        return sum(self.last[pid] - self.first[pid] for pid in self.last)
