"""Recording and reading the audit log (P-ADM-2).

Every admin or support read or change of a person's data calls ``record_txn`` inside the
transaction that does it: the entry exists exactly when the change does. Writers are
serialised (``serialize_writes``) and ``seq`` is the primary key, so the chain cannot fork.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import insert, select

from parlour.core.clock import Clock
from parlour.core.errors import invalid, not_found
from parlour.db.uow import Database, UnitOfWork
from parlour.features.accounts.actor import Actor
from parlour.features.apikeys import may_read_admin
from parlour.features.audit.chain import GENESIS, Break, Row, Verifier, chain_key, link
from parlour.features.audit.models import AuditEntry

PAGE = 50
VERIFY_BATCH = 1000


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
        verifier = Verifier(self._key)
        after = 0
        async with self._db.transaction() as uow:
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
