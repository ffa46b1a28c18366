"""The audit log's own retention purge: entries older than three years go, oldest first, and
the chain still verifies from a sealed starting point; a legal hold stops the purge."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from parlour.container import Container
from parlour.core.clock import FixedClock
from parlour.features.audit.models import AuditCheckpoint, AuditEntry
from parlour.features.audit.service import SYSTEM, Access
from parlour.settings import Settings
from tests.privacy.test_retention import place_hold
from tests.support.world import instance_owner, member

pytestmark = pytest.mark.promise("P-RET-1", "P-ADM-2")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"worker_in_process": False})


async def audit(container: Container, *subjects: str) -> None:
    async with container.db.transaction() as uow:
        accesses = [Access("test.read", who, None, ("email",)) for who in subjects]
        await container.audit.record_txn(uow, SYSTEM, *accesses)
        await uow.commit()


async def audit_seqs(container: Container) -> list[int]:
    async with container.db.transaction() as uow:
        return list(await uow.session.scalars(select(AuditEntry.seq).order_by(AuditEntry.seq)))


async def test_the_audit_log_loses_its_oldest_entries_and_still_verifies(
    app: FastAPI, container: Container, clock: FixedClock
) -> None:
    """Three years after they were written entries go, oldest first; the last one purged is
    sealed as the chain's new start, so `verify` holds and a further gap is still caught."""
    owner = await instance_owner(app, container)
    pat = await member(app, owner)
    held = await member(app, owner)
    await audit(container, pat.id, pat.id)
    await place_hold(owner, held.id)  # an entry about the held person: it stops the prefix
    await audit(container, pat.id)
    old = await audit_seqs(container)
    clock.advance(timedelta(days=3 * 365 + 1))
    await audit(container, pat.id)
    before = (await container.audit.verify()).head
    dry = {r.table: r for r in await container.retention.purge(dry_run=True)}
    assert (dry["audit_log"].rows, await audit_seqs(container)) == (
        len(old) - 2,
        [*old, old[-1] + 1],
    )
    report = {r.table: r for r in await container.retention.purge()}
    assert (report["audit_log"].rows, report["audit_log"].held) == (len(old) - 2, 1)
    kept = await audit_seqs(container)
    assert kept == [*old[-2:], old[-1] + 1]  # the hold's entry, and what follows it
    checked = await container.audit.verify()
    assert checked.broken is None and checked.checked == 3 and checked.head == before
    again = {r.table: r.rows for r in await container.retention.purge()}
    assert again["audit_log"] == 0
    await audit(container, pat.id)
    assert (await container.audit.verify()).broken is None
    async with container.db.engine.begin() as conn:
        await conn.execute(AuditEntry.__table__.delete().where(AuditEntry.seq == kept[0]))
    broken = (await container.audit.verify()).broken
    assert broken is not None and "missing" in broken.reason


async def test_a_moved_audit_checkpoint_is_caught(
    app: FastAPI, container: Container, clock: FixedClock
) -> None:
    owner = await instance_owner(app, container)
    await audit(container, owner.id, owner.id, owner.id)
    clock.advance(timedelta(days=3 * 365 + 1))
    await audit(container, owner.id)
    await container.retention.purge()
    async with container.db.engine.begin() as conn:
        await conn.execute(AuditCheckpoint.__table__.update().values(seq=AuditCheckpoint.seq + 1))
        await conn.execute(
            AuditEntry.__table__.delete().where(AuditEntry.seq == select(
                func.min(AuditEntry.seq)).scalar_subquery())
        )  # fmt: skip
    broken = (await container.audit.verify()).broken
    assert broken is not None and "checkpoint" in broken.reason
