"""Versions of the privacy policy; the newest whose effective date has passed is current."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class PolicyVersion:
    version: str
    effective: date
    material: bool
    summary: str


VERSIONS: tuple[PolicyVersion, ...] = (
    PolicyVersion(
        "2026-11-01",
        date(2026, 11, 1),
        material=True,
        summary="First version: accounts, organisations and profiles.",
    ),
)


def current_version(today: date) -> PolicyVersion:
    live = [v for v in VERSIONS if v.effective <= today]
    return max(live or VERSIONS[:1], key=lambda v: v.effective)
