"""Consent and the one processing gate.

``may_process(subject, purpose)`` is the only way non-essential processing may start: it reads
the ledger on every call (no cache, so a withdrawal or restriction takes effect at once) and
answers False on any doubt or error.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from parlour.core.clock import Clock
from parlour.core.datamap import PURPOSES, Purpose
from parlour.core.errors import AppError, ErrorCode
from parlour.db.uow import Database, UnitOfWork
from parlour.features.accounts import store as accounts_store
from parlour.features.consent import rules, store
from parlour.features.consent.models import HOWS, ConsentEntry
from parlour.features.consent.rules import ACTIONS, DataSubject, Latest
from parlour.features.privacy.policy import PolicyBook

log = logging.getLogger("parlour.consent")


@dataclass(frozen=True)
class PurposeState:
    purpose: Purpose
    consent: str | None  # given, withdrawn, or None when never asked
    consent_version: str | None
    restricted: bool
    objected: bool
    allowed: bool  # what the gate answers now, signals of this request included


@dataclass(frozen=True)
class ConsentState:
    policy_version: str
    purposes: list[PurposeState]
    history: list[ConsentEntry]  # oldest first
    chosen: bool


@dataclass(frozen=True)
class Change:
    purpose: str
    action: str


class ConsentService:
    def __init__(self, db: Database, clock: Clock, policies: PolicyBook | None = None) -> None:
        self._db = db
        self._clock = clock
        self._policies = policies or PolicyBook()

    def policy_version(self) -> str:
        return self._policies.current(self._clock.now().date()).version

    def _valid_versions(self) -> frozenset[str]:
        """Consents and acceptances given under these versions count (P-POL-2)."""
        return self._policies.still_valid(self._clock.now().date())

    # -- the gate ------------------------------------------------------------------------

    async def may_process(self, subject: DataSubject, purpose: str) -> bool:
        """True only with a lawful basis for this subject and purpose now; False on any error."""
        try:
            return await self._may_process(subject, PURPOSES[purpose])
        except Exception:
            log.warning(
                "consent gate failed closed",
                exc_info=True,
                extra={"event": "consent.gate_error", "purpose": purpose},
            )
            return False

    async def _may_process(self, subject: DataSubject, purpose: Purpose) -> bool:
        if purpose.essential:
            return True
        if not subject.known:
            return False
        found = await self._latest(subject)
        if not await self._accepted_policy(subject):
            return False
        return rules.allowed(purpose, found, subject.signals, self._valid_versions())

    async def _latest(self, subject: DataSubject) -> Latest:
        async with self._db.transaction() as uow:
            entries = await store.entries_of(uow.session, subject.user_id, subject.visitor_id)
        return rules.latest(entries)

    async def _accepted_policy(self, subject: DataSubject) -> bool:
        """A user must have accepted the last material policy version before optional
        processing resumes (P-POL-2); a visitor's cookie choice names its version instead."""
        if subject.user_id is None:
            return True
        async with self._db.transaction() as uow:
            rows = await accounts_store.acceptances_of(uow.session, subject.user_id)
        valid = self._valid_versions()
        return any(r.policy_version in valid for r in rows)

    # -- reading -------------------------------------------------------------------------

    async def state(self, subject: DataSubject) -> ConsentState:
        async with self._db.transaction() as uow:
            history = await store.entries_of(uow.session, subject.user_id, subject.visitor_id)
        accepted = await self._accepted_policy(subject)
        return self._state(subject, history, accepted)

    def _state(
        self, subject: DataSubject, history: list[ConsentEntry], accepted: bool
    ) -> ConsentState:
        found = rules.latest(history)
        valid = self._valid_versions()
        purposes = [
            self._purpose_state(p, found, subject, valid, accepted) for p in PURPOSES.values()
        ]
        chosen = rules.chosen(found, valid)
        return ConsentState(self.policy_version(), purposes, history, chosen)

    @staticmethod
    def _purpose_state(
        purpose: Purpose,
        found: Latest,
        subject: DataSubject,
        versions: frozenset[str],
        accepted: bool,
    ) -> PurposeState:
        consent = found.get((purpose.key, "consent"))
        return PurposeState(
            purpose=purpose,
            consent=consent.decision if consent else None,
            consent_version=consent.policy_version if consent else None,
            restricted=rules.is_set(found, purpose.key, "restriction"),
            objected=rules.is_set(found, purpose.key, "objection"),
            allowed=subject.known
            and (accepted or purpose.essential)
            and rules.allowed(purpose, found, subject.signals, versions),
        )

    async def has_chosen(self, subject: DataSubject) -> bool:
        """Whether the banner may stay away: a decision on every consent purpose, this version."""
        if not subject.known:
            return False
        return rules.chosen(await self._latest(subject), self._valid_versions())

    # -- changing (appending) ------------------------------------------------------------

    def check_changes(self, changes: list[Change], how: str) -> None:
        if how not in HOWS:
            raise AppError(ErrorCode.VALIDATION_FAILED, f"Unknown channel {how!r}.")
        problems = {
            c.purpose: problem for c in changes if (problem := rules.action_problem(*_pair(c)))
        }
        if problems:
            raise AppError(
                ErrorCode.VALIDATION_FAILED,
                "Some of these changes cannot be made: " + " ".join(problems.values()),
                fields=problems,
            )

    async def change(self, subject: DataSubject, changes: list[Change], how: str) -> ConsentState:
        """Appends one entry per change, after checking them all; returns the state after."""
        self._require_subject(subject)
        self.check_changes(changes, how)
        async with self._db.transaction() as uow:
            await uow.serialize_writes()
            store.append_txn(uow.session, [self._entry(subject, c, how) for c in changes])
            await self._observe_signals_txn(uow, subject)
            history = await store.entries_of(uow.session, subject.user_id, subject.visitor_id)
            await uow.commit()
        log.info(
            "consent changed",
            extra={"event": "consent.changed", "user": subject.user_id, "how": how},
        )
        return self._state(subject, history, await self._accepted_policy(subject))

    async def record_choice(self, subject: DataSubject, given: set[str], how: str) -> None:
        """A banner choice: consent given or withdrawn for every consent purpose at once."""
        keys = {p.key for p in rules.consent_purposes()}
        unknown = sorted(given - keys)
        if unknown:
            raise AppError(
                ErrorCode.VALIDATION_FAILED,
                f"Unknown choices: {', '.join(unknown)}.",
                fields={"purpose": "unknown purpose"},
            )
        changes = [Change(k, "give" if k in given else "withdraw") for k in sorted(keys)]
        await self.change(subject, changes, how)

    async def observe_signals(self, subject: DataSubject) -> None:
        """Writes a GPC or DNT opt-out into the ledger, once per subject and purpose."""
        if not subject.known or not subject.signals.any:
            return
        async with self._db.transaction() as uow:
            await uow.serialize_writes()
            if await self._observe_signals_txn(uow, subject):
                await uow.commit()

    async def _observe_signals_txn(self, uow: UnitOfWork, subject: DataSubject) -> bool:
        if not subject.known or not subject.signals.any:
            return False
        await uow.session.flush()
        entries = await store.entries_of(uow.session, subject.user_id, subject.visitor_id)
        found = rules.latest(entries)
        how = subject.signals.how
        new = [
            self._entry(subject, Change(p.key, "withdraw"), how)
            for p in rules.signal_purposes()
            if not _opted_out_by_signal(found, p.key)
        ]
        store.append_txn(uow.session, new)
        return bool(new)

    def _entry(self, subject: DataSubject, change: Change, how: str) -> ConsentEntry:
        kind, decision = ACTIONS[change.action]
        return ConsentEntry(
            user_id=subject.user_id,
            visitor_id=None if subject.user_id else subject.visitor_id,
            purpose=change.purpose,
            kind=kind,
            decision=decision,
            policy_version=self.policy_version(),
            how=how,
            recorded_at=self._clock.now(),
        )

    @staticmethod
    def _require_subject(subject: DataSubject) -> None:
        if not subject.known:
            raise AppError(ErrorCode.VALIDATION_FAILED, "Nobody to record this choice for.")


def _pair(change: Change) -> tuple[str, str]:
    return change.purpose, change.action


def _opted_out_by_signal(found: Latest, purpose: str) -> bool:
    entry = found.get((purpose, "consent"))
    return entry is not None and entry.decision == "withdrawn" and entry.how in rules.SIGNAL_HOWS
