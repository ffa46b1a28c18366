"""Recording and reading the audit log (P-ADM-2).

Every admin or support read or change of a person's data calls ``record_txn`` inside the
transaction that does it: the entry exists exactly when the change does. Writers are
serialised (``serialize_writes``) and ``seq`` is the primary key, so the chain cannot fork.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, false, func, insert, or_, select
from sqlalchemy.sql.elements import ColumnElement

from parlour.core.clock import Clock
from parlour.core.errors import invalid, not_found
from parlour.db.uow import Database, UnitOfWork
from parlour.features.accounts.actor import Actor
from parlour.features.apikeys import may_read_admin
from parlour.features.audit.chain import (
    GENESIS,
    Break,
    Row,
    Start,
    Verifier,
    chain_key,
    checkpoint_mac,
    link,
)
from parlour.features.audit.models import AUDIT_LIFE, AuditCheckpoint, AuditEntry

PAGE = 50
VERIFY_BATCH = 1000
PURGE_BATCH = 5000


@dataclass(frozen=True)
class Doer:
    """Who acted: a signed-in person with their role, the operator, a requester or the system."""

    id: str | None
    role: str

    @classmethod
    def of(cls, actor: Actor) -> Doer:
        return cls(actor.user_id, actor.role)


SYSTEM = Doer(None, "system")
OPERATOR = Doer(None, "operator")
REQUESTER = Doer(None, "requester")


@dataclass(frozen=True)
class Access:
    """What one entry says: an action on a person's data, naming fields, never values."""

    action: str
    subject_user_id: str | None
    org_id: str | None
    fields: Sequence[str] = ()
    request_id: str | None = None


@dataclass(frozen=True)
class Page:
    entries: list[AuditEntry]
    next_cursor: str | None


@dataclass(frozen=True)
class Verified:
    checked: int
    head: str
    broken: Break | None


def as_row(e: AuditEntry) -> Row:
    return Row(
        e.seq,
        e.at,
        e.actor_id,
        e.actor_role,
        e.action,
        e.subject_user_id,
        e.org_id,
        e.fields,
        e.request_id,
        e.prev_hash,
        e.hash,
    )


class AuditLog:
    def __init__(self, db: Database, clock: Clock, secret_key: bytes) -> None:
        self._db = db
        self._clock = clock
        self._key = chain_key(secret_key)

    async def record_txn(self, uow: UnitOfWork, doer: Doer, *accesses: Access) -> None:
        """Appends one entry per access, in the caller's transaction."""
        if not accesses:
            return
        await uow.serialize_writes()
        last = (
            await uow.session.execute(
                select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)
            )
        ).first()
        seq, prev = (last.seq, last.hash) if last is not None else (0, GENESIS)
        now = self._clock.now()
        values = []
        for access in accesses:
            seq += 1
            row = Row(
                seq,
                now,
                doer.id,
                doer.role,
                access.action,
                access.subject_user_id,
                access.org_id,
                json.dumps(sorted(set(access.fields))),
                access.request_id,
            )
            hash_ = link(self._key, prev, row)
            values.append(_values(row, prev, hash_))
            prev = hash_
        await uow.session.execute(insert(AuditEntry), values)

    async def org_page(
        self, actor: Actor, org_id: str, cursor: str | None, limit: int = PAGE
    ) -> Page:
        """Newest first; admins of the organisation only, 'not found' for everyone else."""
        if not may_read_admin(actor, org_id):
            raise not_found("organisation")
        before = _cursor(cursor)
        limit = max(1, min(limit, 200))
        query = select(AuditEntry).where(AuditEntry.org_id == org_id)
        if before is not None:
            query = query.where(AuditEntry.seq < before)
        async with self._db.transaction() as uow:
            rows = list(
                await uow.session.scalars(query.order_by(AuditEntry.seq.desc()).limit(limit + 1))
            )
        more = len(rows) > limit
        rows = rows[:limit]
        return Page(rows, str(rows[-1].seq) if more else None)

    async def about(self, subject_user_id: str) -> list[AuditEntry]:
        async with self._db.transaction() as uow:
            rows = await uow.session.scalars(
                select(AuditEntry)
                .where(AuditEntry.subject_user_id == subject_user_id)
                .order_by(AuditEntry.seq)
            )
            return list(rows)

    async def verify(self) -> Verified:
        """Walks the whole chain in batches; stops reading at the first break."""
        async with self._db.transaction() as uow:
            mark = await uow.session.scalar(select(AuditCheckpoint))
            if mark is not None and not hmac.compare_digest(
                mark.mac, checkpoint_mac(self._key, mark.seq, mark.hash)
            ):
                return Verified(0, GENESIS, Break(mark.seq, "the purge checkpoint was changed"))
            start = Start(mark.seq, mark.hash) if mark is not None else None
            verifier = Verifier(self._key, start)
            after = 0
            while verifier.broken is None:
                batch = list(
                    await uow.session.scalars(
                        select(AuditEntry)
                        .where(AuditEntry.seq > after)
                        .order_by(AuditEntry.seq)
                        .limit(VERIFY_BATCH)
                    )
                )
                if not batch:
                    break
                verifier.feed(as_row(e) for e in batch)
                after = batch[-1].seq
        return Verified(verifier.checked, verifier.head, verifier.broken)

    # -- retention ------------------------------------------------------------------------

    async def purge_expired(
        self, now: datetime, held: Collection[str], *, dry_run: bool = False
    ) -> Purge:
        """Deletes entries past their retention, oldest first, and records the last one
        deleted as the chain's new start, in the same transaction: ``verify`` still holds.

        Only a prefix can go: the first entry still within its period, or about a person
        under a legal hold, stops it; the newest entry always stays (the next entry follows
        it). Safe to run any number of times.
        """
        cutoff = now - timedelta(days=AUDIT_LIFE.days or 0)
        gone = await (
            self._count_expired(cutoff, held)
            if dry_run
            else self._delete_expired(cutoff, held, now)
        )
        async with self._db.transaction() as uow:
            kept = await uow.session.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.at < cutoff, _about(held))
            )
        return Purge(gone, int(kept or 0))

    async def _count_expired(self, cutoff: datetime, held: Collection[str]) -> int:
        async with self._db.transaction() as uow:
            end = await _prefix_end_txn(uow, cutoff, held)
            if end is None:
                return 0
            query = select(func.count()).select_from(AuditEntry).where(AuditEntry.seq < end)
            return int(await uow.session.scalar(query) or 0)

    async def _delete_expired(self, cutoff: datetime, held: Collection[str], now: datetime) -> int:
        gone = 0
        while True:
            async with self._db.transaction() as uow:
                await uow.serialize_writes()
                done = await self._purge_batch_txn(uow, cutoff, held, now)
                await uow.commit()
            gone += done
            if done < PURGE_BATCH:
                return gone

    async def _purge_batch_txn(
        self, uow: UnitOfWork, cutoff: datetime, held: Collection[str], now: datetime
    ) -> int:
        s = uow.session
        end = await _prefix_end_txn(uow, cutoff, held)
        if end is None:
            return 0
        rows = (
            await s.execute(
                select(AuditEntry.seq, AuditEntry.hash)
                .where(AuditEntry.seq < end)
                .order_by(AuditEntry.seq)
                .limit(PURGE_BATCH)
            )
        ).all()
        if not rows:
            return 0
        last = rows[-1]
        await s.execute(delete(AuditEntry).where(AuditEntry.seq <= last.seq))
        await s.execute(delete(AuditCheckpoint))
        mac = checkpoint_mac(self._key, last.seq, last.hash)
        s.add(AuditCheckpoint(seq=last.seq, hash=last.hash, purged_at=now, mac=mac))
        return len(rows)


@dataclass(frozen=True)
class Purge:
    """What a purge of the log did: entries deleted, and expired ones a hold keeps."""

    deleted: int
    held: int


async def _prefix_end_txn(uow: UnitOfWork, cutoff: datetime, held: Collection[str]) -> int | None:
    """The first entry that must stay: still within its period, about a held person, or the
    newest. Everything before it may go."""
    s = uow.session
    newest = await s.scalar(select(func.max(AuditEntry.seq)))
    stop = await s.scalar(
        select(func.min(AuditEntry.seq)).where(or_(AuditEntry.at >= cutoff, _about(held)))
    )
    if newest is None:
        return None
    return int(newest if stop is None else min(newest, stop))


def _about(held: Collection[str]) -> ColumnElement[bool]:
    if not held:
        return false()
    return and_(AuditEntry.subject_user_id.is_not(None), AuditEntry.subject_user_id.in_(held))


def _values(row: Row, prev_hash: str, hash_: str) -> dict[str, object]:
    return {
        "seq": row.seq,
        "at": row.at,
        "actor_id": row.actor_id,
        "actor_role": row.actor_role,
        "action": row.action,
        "subject_user_id": row.subject_user_id,
        "org_id": row.org_id,
        "fields": row.fields,
        "request_id": row.request_id,
        "prev_hash": prev_hash,
        "hash": hash_,
    }


def _cursor(cursor: str | None) -> int | None:
    if cursor is None or cursor == "":
        return None
    if not cursor.isdigit() or len(cursor) > 18:
        raise invalid("cursor", "Use the next_cursor of the previous page.")
    return int(cursor)


def subjects(rows: Iterable[object], attr: str) -> list[str]:
    """The distinct people a list of rows is about, in first-seen order."""
    seen: dict[str, None] = {}
    for row in rows:
        value = getattr(row, attr, None)
        if isinstance(value, str):
            seen.setdefault(value)
    return list(seen)
