"""Versions of the privacy policy; the newest whose effective date has passed is current.

A version is ``material`` when it changes what people agreed to: once it is current, everyone
is told (in the app and by mail), and nothing beyond the service itself runs for a person until
they accept it. A version that is not material (a clarification) changes nothing for anyone:
acceptances and consents given under the last material version or later still count.
"""

from __future__ import annotations

from collections.abc import Iterable
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


class PolicyBook:
    """The published versions, handed to whoever needs them by the composition root.

    Without an explicit list it reads ``VERSIONS`` at each call; tests publish a later version
    on their own container with ``publish`` instead of editing the production list.
    """

    def __init__(self, versions: Iterable[PolicyVersion] | None = None) -> None:
        self._versions = tuple(versions) if versions is not None else None

    @property
    def versions(self) -> tuple[PolicyVersion, ...]:
        chosen = self._versions if self._versions is not None else VERSIONS
        return tuple(sorted(chosen, key=lambda v: v.effective))

    def publish(self, version: PolicyVersion) -> None:
        self._versions = (*self.versions, version)

    def history(self) -> list[PolicyVersion]:
        """Newest first, future versions included."""
        return list(reversed(self.versions))

    def _live(self, today: date) -> list[PolicyVersion]:
        """Versions in effect by ``today``, oldest first; the first one before any is."""
        every = self.versions
        return [v for v in every if v.effective <= today] or list(every[:1])

    def current(self, today: date) -> PolicyVersion:
        return self._live(today)[-1]

    def binding(self, today: date) -> PolicyVersion:
        """The newest material version in effect: the one people must have accepted."""
        live = self._live(today)
        material = [v for v in live if v.material]
        return material[-1] if material else live[0]

    def still_valid(self, today: date) -> frozenset[str]:
        """Versions an acceptance or a consent may have been given under and still count."""
        since = self.binding(today).effective
        return frozenset(v.version for v in self._live(today) if v.effective >= since)

    def earlier_than(self, version: PolicyVersion) -> bool:
        """Whether another version came before this one (the first version announces nothing)."""
        return any(v.effective < version.effective for v in self.versions)


def current_version(today: date) -> PolicyVersion:
    """The current version of the production list (callers with a container use its book)."""
    return PolicyBook().current(today)
