"""Every dependency is pinned, and the virtualenv the suite runs in holds exactly those pins."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


def _pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, version = line.partition("==")
        assert sep, f"constraints.txt: {line!r} is not an exact pin (name==version)"
        pins[_name(name)] = version
    return pins


def test_every_dependency_of_pyproject_is_pinned() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        wanted += extra
    pins = _pins()
    unpinned = sorted({_name(r) for r in wanted} - set(pins))
    assert not unpinned, f"add these to constraints.txt (make lock): {unpinned}"


def test_the_installed_packages_are_the_pinned_versions() -> None:
    drift = {}
    for name, version in _pins().items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue  # a platform-specific pin this machine does not need
        if installed != version:
            drift[name] = f"{installed} installed, {version} pinned"
    assert not drift, f"the virtualenv does not match constraints.txt: {drift}"
