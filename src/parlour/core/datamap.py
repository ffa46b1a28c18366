"""The vocabulary every column uses to say what personal data it holds, and why.

Categories follow the fideslang taxonomy (``user.contact.email`` …), extended with our own keys
under ``user.account.*`` and ``user.communications.*`` where fideslang has no exact term.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

DATAMAP_KEY = "datamap"
SUBJECT_KEY = "subject"


class LegalBasis(StrEnum):
    CONSENT = "consent"
    CONTRACT = "contract"
    LEGAL_OBLIGATION = "legal_obligation"
    LEGITIMATE_INTEREST = "legitimate_interest"


@dataclass(frozen=True)
class Purpose:
    """Why data is processed. Only essential purposes run without asking the consent gate.

    ``opt_out_signals``: a browser's Global Privacy Control or Do Not Track signal refuses it.
    """

    key: str
    name: str
    basis: LegalBasis
    description: str
    essential: bool
    opt_out_signals: bool = False


PURPOSES: dict[str, Purpose] = {
    p.key: p
    for p in (
        Purpose(
            "provide_service",
            "Providing the service",
            LegalBasis.CONTRACT,
            "Run your account, your conversations and your calls.",
            essential=True,
        ),
        Purpose(
            "account_security",
            "Keeping accounts secure",
            LegalBasis.LEGITIMATE_INTEREST,
            "Sign you in, keep sessions apart, and stop password guessing and abuse.",
            essential=True,
        ),
        Purpose(
            "organisation_admin",
            "Administration by your organisation",
            LegalBasis.CONTRACT,
            "Let your organisation's administrators manage its members and settings.",
            essential=True,
        ),
        Purpose(
            "legal_compliance",
            "Meeting legal obligations",
            LegalBasis.LEGAL_OBLIGATION,
            "Keep proof of what you agreed to and answer lawful requests.",
            essential=True,
        ),
        Purpose(
            "service_quality",
            "Call quality and diagnostics",
            LegalBasis.LEGITIMATE_INTEREST,
            "Measure call quality (loss, jitter, delay, bitrate) under a pseudonym to fix faults.",
            essential=False,
        ),
        Purpose(
            "analytics",
            "Usage analytics",
            LegalBasis.CONSENT,
            "Count how features are used, in aggregates, to improve them.",
            essential=False,
            opt_out_signals=True,
        ),
        Purpose(
            "personalisation",
            "Remembering your preferences",
            LegalBasis.CONSENT,
            "Remember choices such as layout and language between visits.",
            essential=False,
        ),
        Purpose(
            "marketing",
            "News and offers",
            LegalBasis.CONSENT,
            "Send you news and offers about Parlour, chosen for you.",
            essential=False,
            opt_out_signals=True,
        ),
    )
}


class Erasure(StrEnum):
    """What happens to a value when its subject is erased."""

    DELETE = "delete"  # the row goes with the subject
    NULL = "null"  # the value is cleared, the row stays
    PSEUDONYMISE = "pseudonymise"  # replaced by a stable pseudonym, the row stays
    KEEP = "keep"  # kept for the stated legal reason until its retention ends


class Purge(StrEnum):
    """What the retention job does to a row once its period is over."""

    DELETE = "delete"  # the row goes
    CLEAR = "clear"  # the row stays; the period's columns are set to NULL


@dataclass(frozen=True)
class Retention:
    """How long a value is kept: a period after an anchor event, or while the anchor lasts.

    A timed period (``days`` given) is enforced by the retention job, which needs to know when
    the clock starts: ``column`` names the row's column holding that moment, a tuple of
    columns of which the first that is set counts, or a dotted foreign-key path to a column of
    the row it belongs to (``"call_id.ended_at"``: when the call ended). ``purge`` says what
    happens then. ``elsewhere`` instead names the mechanism that enforces the period (the
    export expiry, erasure), so the retention job leaves it alone.
    """

    anchor: str
    days: int | None = None
    column: str | tuple[str, ...] | None = None
    purge: Purge = Purge.DELETE
    elsewhere: str | None = None

    @property
    def anchors(self) -> tuple[str, ...]:
        if self.column is None:
            return ()
        return (self.column,) if isinstance(self.column, str) else self.column

    @property
    def timed(self) -> bool:
        return self.days is not None

    def describe(self) -> str:
        if self.days is None:
            return f"while {self.anchor}"
        if self.days == 0:
            return f"until {self.anchor}"
        return f"{self.days} days after {self.anchor}"


ACCOUNT_LIFETIME = Retention("the account exists")
UNTIL_ERASED = Retention("the account is erased", days=0, elsewhere="account erasure")


@dataclass(frozen=True)
class Personal:
    category: str
    purposes: tuple[str, ...]
    retention: Retention
    erasure: Erasure
    subject: str = "user"
    description: str = ""
    exported: bool = True
    shared: bool = False
    blob: str | None = None

    def __post_init__(self) -> None:
        unknown = [p for p in self.purposes if p not in PURPOSES]
        if unknown or not self.purposes:
            raise ValueError(f"a personal column needs known purposes, got {self.purposes}")


@dataclass(frozen=True)
class NotPersonal:
    reason: str


@dataclass(frozen=True)
class Subject:
    """Ties a table's rows to the person they are about, through one column.

    ``grants``: a membership table's column naming the shared space (a conversation) whose rows
    its subject may read. ``shared_via``: a dotted foreign-key path from this table to such a
    space; members of it may read the row's ``shared`` columns. ``about``: a column naming
    another person the row is about, who may read its ``shared`` columns too.
    """

    kind: str
    ref: str
    grants: str | None = None
    shared_via: str | None = None
    about: str | None = None


def personal(
    category: str,
    *purposes: str,
    retention: Retention = ACCOUNT_LIFETIME,
    erasure: Erasure = Erasure.DELETE,
    subject: str = "user",
    description: str = "",
    exported: bool = True,
    shared: bool = False,
    blob: str | None = None,
) -> dict[str, Any]:
    """Column ``info=`` for a value that is about a person.

    ``shared``: the value is part of a communication, so the other people in it (or the person
    the row is about) get it in their export. ``blob``: the value is the key of a blob stored
    under this prefix, which belongs to the same subject.
    """
    return {
        DATAMAP_KEY: Personal(
            category, purposes, retention, erasure, subject, description, exported, shared, blob
        )
    }


def not_personal(reason: str) -> dict[str, Any]:
    """Column ``info=`` for a value that is about no one; the reason is printed in the map."""
    return {DATAMAP_KEY: NotPersonal(reason)}


def subject_table(
    kind: str,
    ref: str,
    *,
    grants: str | None = None,
    shared_via: str | None = None,
    about: str | None = None,
) -> dict[str, Any]:
    """Table ``info=`` naming the column that ties each row to its data subject."""
    return {SUBJECT_KEY: Subject(kind, ref, grants, shared_via, about)}
