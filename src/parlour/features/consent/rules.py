"""The rules of the gate as pure functions over ledger entries: who, signals, and what is allowed.

Kept apart from the service so the rules can be read, and tested, without a database.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from parlour.core.datamap import PURPOSES, LegalBasis, Purpose
from parlour.features.consent.models import ConsentEntry

# What each action appends: (kind, decision).
ACTIONS: dict[str, tuple[str, str]] = {
    "give": ("consent", "given"),
    "withdraw": ("consent", "withdrawn"),
    "restrict": ("restriction", "set"),
    "unrestrict": ("restriction", "lifted"),
    "object": ("objection", "set"),
    "unobject": ("objection", "lifted"),
}
SIGNAL_HOWS = ("gpc", "dnt")


@dataclass(frozen=True)
class Signals:
    """Opt-out signals the browser sent with this request: Global Privacy Control, Do Not Track."""

    gpc: bool = False
    dnt: bool = False

    @property
    def any(self) -> bool:
        return self.gpc or self.dnt

    @property
    def how(self) -> str:
        return "gpc" if self.gpc else "dnt"


@dataclass(frozen=True)
class DataSubject:
    """Whom processing is about: a user, or a signed-out visitor known by a random id."""

    user_id: str | None = None
    visitor_id: str | None = None
    signals: Signals = field(default_factory=Signals)

    @property
    def known(self) -> bool:
        return self.user_id is not None or self.visitor_id is not None


Latest = dict[tuple[str, str], ConsentEntry]


def latest(entries: Iterable[ConsentEntry]) -> Latest:
    """The newest entry per (purpose, kind); entries come oldest first."""
    found: Latest = {}
    for entry in entries:
        found[(entry.purpose, entry.kind)] = entry
    return found


def is_set(found: Latest, purpose: str, kind: str) -> bool:
    entry = found.get((purpose, kind))
    return entry is not None and entry.decision == "set"


def consent_valid(found: Latest, purpose: str, versions: frozenset[str]) -> bool:
    """Consent counts only if given under a version still valid: the last material one or later."""
    entry = found.get((purpose, "consent"))
    return entry is not None and entry.decision == "given" and entry.policy_version in versions


def allowed(purpose: Purpose, found: Latest, signals: Signals, versions: frozenset[str]) -> bool:
    """The lawful-basis check of the gate, for a subject whose entries are ``found``."""
    if purpose.essential:
        return True
    if purpose.opt_out_signals and signals.any:
        return False
    if is_set(found, purpose.key, "restriction"):
        return False
    if purpose.basis is LegalBasis.CONSENT:
        return consent_valid(found, purpose.key, versions)
    if purpose.basis is LegalBasis.LEGITIMATE_INTEREST:
        return not is_set(found, purpose.key, "objection")
    return True


def chosen(found: Latest, versions: frozenset[str]) -> bool:
    """Whether the subject has decided on every consent purpose under a still valid version."""
    for purpose in consent_purposes():
        entry = found.get((purpose.key, "consent"))
        if entry is None:
            return False
        if entry.decision == "given" and entry.policy_version not in versions:
            return False
    return True


def consent_purposes() -> list[Purpose]:
    return [p for p in PURPOSES.values() if not p.essential and p.basis is LegalBasis.CONSENT]


def signal_purposes() -> list[Purpose]:
    return [p for p in consent_purposes() if p.opt_out_signals]


def action_problem(purpose_key: str, action: str) -> str | None:
    """Why an action cannot apply to a purpose, or None when it can."""
    purpose = PURPOSES.get(purpose_key)
    if purpose is None:
        return f"There is no purpose called {purpose_key!r}."
    if action not in ACTIONS:
        return f"Unknown action {action!r}; use one of {', '.join(ACTIONS)}."
    if purpose.essential:
        return f"{purpose.name} is needed to provide the service and cannot be switched off."
    kind = ACTIONS[action][0]
    if kind == "consent" and purpose.basis is not LegalBasis.CONSENT:
        return f"{purpose.name} does not rest on consent; object to it instead."
    if kind == "objection" and purpose.basis is not LegalBasis.LEGITIMATE_INTEREST:
        return f"{purpose.name} rests on consent; withdraw consent instead."
    return None
