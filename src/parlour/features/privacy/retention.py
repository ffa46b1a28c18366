"""The retention purge (P-RET-1, P-RET-2): what the data map says has expired is deleted.

Each period of the data map (see retention_map.py) is enforced table by table, children
first, in batches of at most ``BATCH`` rows, each its own short transaction: one statement
picks up to that many expired rows by primary key and deletes them (or, for a period declared
``Purge.CLEAR``, sets its columns to NULL). Rows about a person under an active legal hold are
skipped, and so is a row that a purged child table still points at.
Running it again finds nothing more to do. Each table's outcome is logged as one line with
counts only, and returned, for the job and for ``parlour privacy purge``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import MetaData, and_, delete, func, not_, select, text, update
from sqlalchemy.sql.elements import ColumnElement

from parlour.core.clock import Clock
from parlour.core.datamap import Purge
from parlour.db.uow import Database
from parlour.features.accounts.models import User
from parlour.features.audit.models import AUDIT_LIFE
from parlour.features.audit.service import AuditLog
from parlour.features.privacy.models import LegalHold
from parlour.features.privacy.retention_map import Period, children_remain, held_where, periods
from parlour.features.privacy.walker import Identity
from parlour.jobs.runner import JobContext, JobRunner

log = logging.getLogger("parlour.privacy.retention")

PURGE = "privacy.retention_purge"
EVERY = timedelta(hours=1)
BATCH = 5000


@dataclass(frozen=True)
class Purged:
    """What one period's purge did (or, in a dry run, would do): counts, never values."""

    table: str
    anchor: str
    days: int
    action: str
    rows: int
    held: int

    def as_log(self) -> dict[str, Any]:
        return {"event": "retention.purged", **self.__dict__}


class RetentionService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        jobs: JobRunner,
        metadata: MetaData,
        audit: AuditLog | None = None,
        batch: int = BATCH,
    ) -> None:
        self._db = db
        self._clock = clock
        self._audit = audit
        self._periods = periods(metadata)
        self._batch = batch
        jobs.register(PURGE, self._job)
        jobs.every(PURGE, EVERY)

    async def purge(self, *, dry_run: bool = False) -> list[Purged]:
        """Enforces every period once; with ``dry_run``, only counts what would go."""
        now = self._clock.now()
        held = await self._held()
        report = [await self._purge_period(p, now, held, dry_run) for p in self._periods]
        if self._audit is not None:
            report.append(await _purge_audit(self._audit, now, held, dry_run))
        if dry_run:
            return report
        for done in report:
            log.info("retention purge", extra=done.as_log())
        await self._compact({r.table for r in report if r.rows})
        return report

    async def _purge_period(
        self, period: Period, now: datetime, held: list[Identity], dry_run: bool
    ) -> Purged:
        where, on_hold = self._where(period, now, held)
        rows = await (self._count(period, where) if dry_run else self._apply(period, where))
        kept = await self._count(period, on_hold) if held else 0
        action = period.retention.purge.value
        return Purged(period.name, period.anchor_text(), period.days, action, rows, kept)

    async def _job(self, ctx: JobContext, params: dict[str, Any]) -> None:
        await self.purge()

    async def _held(self) -> list[Identity]:
        async with self._db.transaction() as uow:
            rows = await uow.session.execute(
                select(LegalHold.user_id, User.email)
                .outerjoin(User, User.id == LegalHold.user_id)
                .where(LegalHold.released_at.is_(None))
                .distinct()
            )
            return [Identity(r.user_id, r.email or "") for r in rows]

    def _where(
        self, period: Period, now: datetime, held: list[Identity]
    ) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
        """The rows to act on, and the expired rows a hold keeps."""
        due = and_(period.expired(now - timedelta(days=period.days)), period.governed())
        kept = held_where(period.table, held)
        spare = children_remain(period, self._periods)
        return and_(due, not_(kept), not_(spare)), and_(due, kept)

    async def _count(self, period: Period, where: ColumnElement[bool]) -> int:
        async with self._db.transaction() as uow:
            found = await uow.session.scalar(
                select(func.count()).select_from(period.table).where(where)
            )
        return int(found or 0)

    async def _apply(self, period: Period, where: ColumnElement[bool]) -> int:
        """Batch after batch until one comes back short. Every row picked is acted on and then
        no longer matches (it is gone, or its columns are empty), so this ends; no ordering is
        needed, which lets both engines find the rows through the anchor's index."""
        total = 0
        while True:
            done = await self._apply_batch(period, where)
            total += done
            if done < self._batch:
                return total

    async def _apply_batch(self, period: Period, where: ColumnElement[bool]) -> int:
        key = period.key
        batch = key.in_(select(key).where(where).limit(self._batch))
        if period.retention.purge == Purge.CLEAR:
            nulls = {c.name: None for c in period.columns}
            statement: Any = update(period.table).where(batch).values(nulls)
        else:
            statement = delete(period.table).where(batch)
        async with self._db.transaction() as uow:
            if self._db.engine.dialect.name == "sqlite":
                await uow.serialize_writes()  # one writer anyway: wait in line, not in retries
            result = await uow.session.execute(
                statement.execution_options(synchronize_session=False)
            )
            await uow.commit()
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def _compact(self, touched: set[str]) -> None:
        """As after an erasure (P-RET-2): the deleted rows' bytes leave the database files.
        SQLite zeroes freed cells (secure_delete) and the log is checkpointed and truncated;
        PostgreSQL vacuums the tables now rather than at autovacuum's pace."""
        if not touched:
            return
        async with self._db.engine.connect() as conn:
            if self._db.engine.dialect.name == "sqlite":
                await conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
                return
            auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
            for name in sorted(touched):
                await auto.execute(text(f'VACUUM "{name}"'))


async def _purge_audit(
    audit: AuditLog, now: datetime, held: list[Identity], dry_run: bool
) -> Purged:
    """The audit log declares its own purge: only a prefix of its chain can go."""
    result = await audit.purge_expired(now, [h.user_id for h in held], dry_run=dry_run)
    days = AUDIT_LIFE.days or 0
    return Purged("audit_log", "at", days, "delete", result.deleted, result.held)
