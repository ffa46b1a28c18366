"""A real Janus gateway for the SFU tests: its VideoRoom plugin and HTTP API only, on loopback."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support.live import free_port
from tests.support.services import missing

SYSTEM_CONFIG = Path("/etc/janus/janus.jcfg")


def _system_folder(name: str) -> Path | None:
    """Where the installed Janus keeps its plugins or transports (read from its own config)."""
    if not SYSTEM_CONFIG.exists():
        return None
    found = re.search(rf'{name}_folder\s*=\s*"([^"]+)"', SYSTEM_CONFIG.read_text())
    return Path(found.group(1)) if found else None


def _only(folder: Path, wanted: str, into: Path) -> Path:
    into.mkdir()
    for library in folder.glob(f"{wanted}*"):
        (into / library.name).symlink_to(library)
    return into


@contextmanager
def janus(workdir: Path) -> Iterator[str]:
    """Starts Janus with a configuration of our own; yields the HTTP API's address."""
    binary = shutil.which("janus")
    plugins, transports = _system_folder("plugins"), _system_folder("transports")
    if binary is None or plugins is None or transports is None:
        missing("Janus", "the janus package is not installed (apt-get install janus)")
    assert binary is not None and plugins is not None and transports is not None
    port = free_port()
    configs = workdir / "configs"
    configs.mkdir(parents=True)
    (configs / "janus.jcfg").write_text(
        "general: {\n"
        f'  configs_folder = "{configs}"\n'
        f'  plugins_folder = "{_only(plugins, "libjanus_videoroom.so", workdir / "plugins")}"\n'
        f'  transports_folder = "{_only(transports, "libjanus_http.so", workdir / "transports")}"\n'
        '  events_folder = "/nonexistent"\n  loggers_folder = "/nonexistent"\n'
        "  debug_level = 3\n  session_timeout = 60\n}\n"
        'media: {\n  rtp_port_range = "40000-40999"\n}\n'
        'nat: {\n  nice_debug = false\n  ice_enforce_list = "lo"\n}\n'
    )
    (configs / "janus.transport.http.jcfg").write_text(
        'general: {\n  json = "plain"\n  base_path = "/janus"\n  http = true\n'
        f'  port = {port}\n  ip = "127.0.0.1"\n  https = false\n}}\n'
        "admin: {\n  admin_http = false\n}\n"
    )
    (configs / "janus.plugin.videoroom.jcfg").write_text("general: {\n}\n")
    log = (workdir / "janus.log").open("wb")
    process = subprocess.Popen(
        [
            binary,
            "--config",
            str(configs / "janus.jcfg"),
            "--configs-folder",
            str(configs),
            "--disable-colors",
            "--debug-level",
            "4",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "LANG": "C"},
    )
    url = f"http://127.0.0.1:{port}/janus"
    try:
        _wait_until_up(url, process, workdir / "janus.log")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("Janus stopped at start:\n" + log.read_text()[-2000:])
        try:
            if httpx.get(url + "/info", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("Janus did not answer within 20 s:\n" + log.read_text()[-2000:])
