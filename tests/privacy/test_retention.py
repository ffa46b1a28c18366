"""The retention purge: every timed period of the data map is enforced, holds suspend it.

For each table the data map gives a timed period, a row whose period ran out is gone after the
job and a row still within it stays; a person under a legal hold keeps their old rows until the
hold is lifted; running the job again changes nothing.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from parlour.container import Container
from parlour.core.clock import FixedClock, SystemClock
from parlour.core.datamap import Purge, Retention, personal, subject_table
from parlour.core.ids import new_id
from parlour.db.base import UTCDateTime
from parlour.db.models import Base
from parlour.features.accounts.models import AuthSession, PasswordReset, SigninFailure
from parlour.features.calls.models import Call, Guest, Participant, Quality
from parlour.features.chat.models import Event, MessageUsage
from parlour.features.consent.models import ConsentEntry
from parlour.features.orgs.models import Invitation
from parlour.features.privacy.models import LegalHold
from parlour.features.privacy.retention import EVERY, PURGE, RetentionService
from parlour.features.privacy.retention_map import Period, periods
from parlour.features.requests.models import PrivacyRequest
from parlour.jobs.models import Job
from parlour.jobs.runner import FAILED, JobContext, JobRunner
from parlour.mail.models import OutboxMail
from parlour.settings import Settings
from tests.privacy.test_canary import database_bytes, found_in
from tests.support.server import parlour, parlour_env
from tests.support.world import Person, instance_owner, member

pytestmark = pytest.mark.promise("P-RET-1")
_n = itertools.count(1)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Jobs run when the test says so, not in the background."""
    return settings.model_copy(update={"worker_in_process": False})


class Seed:
    """Writes one row per table whose retention clock started at ``at``; returns its key."""

    def __init__(self, s: AsyncSession, org_id: str, user_id: str, email: str) -> None:
        self.s, self.org, self.user, self.email = s, org_id, user_id, email

    async def _add(self, model: Any, **values: Any) -> Any:
        result = await self.s.execute(insert(model).values(**values).returning(*_key(model)))
        return result.scalar_one()

    async def calls(self, at: datetime) -> Any:
        return await self._add(
            Call, id=new_id(), org_id=self.org, caller_id=self.user, media="audio",
            state="ended", outcome="completed", created_at=at - timedelta(minutes=5),
            ring_until=at, ended_at=at, duration_seconds=60.0,
        )  # fmt: skip

    async def call_participants(self, at: datetime) -> Any:
        return await self._add(
            Participant, call_id=await self.calls(at), user_id=self.user, role="caller",
            user_name=self.email, display_name="Pat", state="left", ip_address="203.0.113.7",
        )  # fmt: skip

    async def call_quality(self, at: datetime) -> Any:
        return await self._add(
            Quality, call_id=await self.calls(at), pseudonym=new_id()[:24], reported_at=at,
            packet_loss_pct=0.5,
        )  # fmt: skip

    async def call_guests(self, at: datetime) -> Any:
        return await self._add(
            Guest, id=new_id(), call_id=await self.calls(at), token_digest=new_id() * 2,
            created_by=self.user, display_name="Guest Gil", created_at=at, expires_at=at,
        )  # fmt: skip

    async def message_usage(self, at: datetime) -> Any:
        return await self._add(
            MessageUsage, org_id=self.org, sender_id=self.user, recipients=1,
            status="delivered", size_bytes=12, created_at=at,
        )  # fmt: skip

    async def events(self, at: datetime) -> Any:
        return await self._add(
            Event, user_id=self.user, actor_id=self.user, type="test.event", created_at=at
        )

    async def password_resets(self, at: datetime) -> Any:
        return await self._add(
            PasswordReset, id=new_id(), user_id=self.user, token_digest=new_id() * 2,
            created_at=at, expires_at=at + timedelta(minutes=30),
        )  # fmt: skip

    async def invitations(self, at: datetime) -> Any:
        return await self._add(
            Invitation, id=new_id(), org_id=self.org, email=f"invitee{next(_n)}@example.org",
            role="member", token_digest=new_id() * 2, invited_by=self.user,
            created_at=at - timedelta(days=7), expires_at=at,
        )  # fmt: skip

    async def consent_ledger(self, at: datetime) -> Any:
        return await self._add(
            ConsentEntry, visitor_id=new_id(), purpose="analytics", kind="consent",
            decision="given", policy_version="1", how="banner", recorded_at=at,
        )  # fmt: skip

    async def auth_sessions(self, at: datetime) -> Any:
        return await self._add(
            AuthSession, id=new_id(), user_id=self.user, kind="cookie", label="Firefox",
            secret_digest=new_id() * 2, ip_prefix="203.0.113.0/24",
            created_at=at - timedelta(days=30), last_seen_at=at - timedelta(days=1),
            expires_at=at,
        )  # fmt: skip

    async def legal_holds(self, at: datetime) -> Any:
        return await self._add(
            LegalHold, id=new_id(), org_id=self.org, user_id=self.user, reason="Case 1",
            created_by=self.user, created_at=at - timedelta(days=30), released_by=self.user,
            released_at=at,
        )  # fmt: skip

    async def signin_failures(self, at: datetime) -> Any:
        return await self._add(SigninFailure, bucket=new_id(), failures=2, window_start=at)

    async def privacy_requests(self, at: datetime) -> Any:
        return await self._add(
            PrivacyRequest, id=new_id(), org_id=self.org, name="Pat", email=self.email,
            kind="access", message="What do you hold?", state="closed", code_attempts=0,
            created_at=at - timedelta(days=10), closed_at=at, answer="This.",
        )  # fmt: skip

    async def mail_outbox(self, at: datetime) -> Any:
        return await self._add(
            OutboxMail, id=new_id(), to_addr=self.email, subject="Hello", body="Text",
            status="kept", attempts=0, next_attempt_at=at, created_at=at,
        )  # fmt: skip


def _key(model: Any) -> list[Any]:
    return list(model.__table__.primary_key.columns)


PERIODS = periods(Base.metadata)


def seeder(seed: Seed, table: str) -> Callable[[datetime], Awaitable[Any]]:
    made: Callable[[datetime], Awaitable[Any]] = getattr(seed, table)
    return made


async def seed_rows(
    container: Container, person: Person, table: str, ages: list[datetime]
) -> list[Any]:
    async with container.db.transaction() as uow:
        seed = Seed(uow.session, person.org_id, person.id, person.email)
        keys = [await seeder(seed, table)(at) for at in ages]
        await uow.commit()
    return keys


async def present(container: Container, period: Period, keys: list[Any]) -> list[bool]:
    async with container.db.transaction() as uow:
        found = set(await uow.session.scalars(select(period.key).where(period.key.in_(keys))))
    return [k in found for k in keys]


def old_and_young(now: datetime, period: Period) -> list[datetime]:
    """One moment a day past the period's end, one an hour before it."""
    end = now - timedelta(days=period.days)
    return [end - timedelta(days=1), end + timedelta(hours=1)]


def test_every_period_has_a_seeder_here() -> None:
    """A table that gains a timed period must be added to this test, or this fails."""
    assert {p.name for p in PERIODS} <= {n for n in dir(Seed) if not n.startswith("_")}


@pytest.mark.promise("P-RET-2")
@pytest.mark.parametrize("period", PERIODS, ids=lambda p: f"{p.name}-{p.days}d")
async def test_an_expired_row_goes_and_a_younger_one_stays(
    app: FastAPI, container: Container, clock: FixedClock, period: Period
) -> None:
    owner = await instance_owner(app, container)
    old, young = await seed_rows(container, owner, period.name, old_and_young(clock.now(), period))
    await container.jobs.enqueue_periodic(PURGE, EVERY)
    assert await container.jobs.run_due() == 1
    assert await present(container, period, [old, young]) == [False, True]
    again = {r.table: r.rows for r in await container.retention.purge()}
    assert again[period.name] == 0
    assert await present(container, period, [old, young]) == [False, True]


async def test_a_dry_run_counts_and_changes_nothing(
    app: FastAPI, container: Container, clock: FixedClock
) -> None:
    owner = await instance_owner(app, container)
    period = next(p for p in PERIODS if p.name == "events")
    keys = await seed_rows(container, owner, "events", old_and_young(clock.now(), period) * 2)
    counted = {r.table: r for r in await container.retention.purge(dry_run=True)}
    assert counted["events"].rows == 2 and counted["events"].action == "delete"
    assert await present(container, period, keys) == [True] * 4
    done = {r.table: r.rows for r in await container.retention.purge()}
    assert done["events"] == 2
    assert await present(container, period, keys) == [False, True, False, True]


async def test_a_purge_larger_than_a_batch_takes_several_and_stops(
    app: FastAPI, container: Container, clock: FixedClock
) -> None:
    owner = await instance_owner(app, container)
    period = next(p for p in PERIODS if p.name == "events")
    old, young = old_and_young(clock.now(), period)
    keys = await seed_rows(container, owner, "events", [old] * 5 + [young])
    service = RetentionService(
        container.db, clock, JobRunner(container.db, clock), Base.metadata, batch=2
    )
    done = {r.table: r.rows for r in await service.purge()}
    assert done["events"] == 5
    assert await present(container, period, keys) == [False] * 5 + [True]


HELD_TABLES = ("events", "message_usage", "calls", "call_participants", "mail_outbox")


async def place_hold(owner: Person, user_id: str) -> str:
    placed = await owner.http.post(
        f"/api/v1/orgs/{owner.org_id}/holds", json={"user_id": user_id, "reason": "Case 9"}
    )
    assert placed.status_code == 201, placed.text
    hold_id: str = placed.json()["id"]
    return hold_id


async def test_a_legal_hold_keeps_the_held_persons_old_rows_until_it_is_lifted(
    app: FastAPI, container: Container, clock: FixedClock
) -> None:
    owner = await instance_owner(app, container)
    pat = await member(app, owner)
    hold_id = await place_hold(owner, pat.id)
    kept: dict[str, list[Any]] = {}
    gone: dict[str, list[Any]] = {}
    for name in HELD_TABLES:
        period = next(p for p in PERIODS if p.name == name)
        ages = old_and_young(clock.now(), period)[:1]
        kept[name] = await seed_rows(container, pat, name, ages)
        gone[name] = await seed_rows(container, owner, name, ages)
    report = {r.table: r for r in await container.retention.purge()}
    for name in HELD_TABLES:
        period = next(p for p in PERIODS if p.name == name)
        assert await present(container, period, kept[name]) == [True], name
        assert await present(container, period, gone[name]) == [False], name
        assert report[name].held >= 1, name
    lifted = await owner.http.delete(f"/api/v1/orgs/{owner.org_id}/holds/{hold_id}")
    assert lifted.status_code == 204
    await container.retention.purge()
    for name in HELD_TABLES:
        period = next(p for p in PERIODS if p.name == name)
        assert await present(container, period, kept[name]) == [False], name


async def test_a_call_is_kept_while_a_held_participant_is_in_it(
    app: FastAPI, container: Container, clock: FixedClock
) -> None:
    """The call's caller is not held, but one of its legs is: the cascade must not take it."""
    owner = await instance_owner(app, container)
    pat = await member(app, owner)
    await place_hold(owner, pat.id)
    long_ago = clock.now() - timedelta(days=401)
    async with container.db.transaction() as uow:
        seed = Seed(uow.session, owner.org_id, owner.id, owner.email)
        call_id = await seed.calls(long_ago)
        leg = await Seed(uow.session, owner.org_id, pat.id, pat.email)._add(
            Participant, call_id=call_id, user_id=pat.id, role="callee", display_name="Pat",
            state="left",
        )  # fmt: skip
        await uow.commit()
    await container.retention.purge()
    async with container.db.transaction() as uow:
        assert await uow.session.get(Call, call_id) is not None
        assert await uow.session.get(Participant, leg) is not None


async def count(container: Container, model: Any, **where: Any) -> int:
    async with container.db.transaction() as uow:
        query = select(func.count()).select_from(model).filter_by(**where)
        return int(await uow.session.scalar(query) or 0)


@pytest.mark.promise("P-ANA-2")
async def test_call_quality_expires_ninety_days_after_the_call(
    app: FastAPI, container: Container, clock: FixedClock
) -> None:
    owner = await instance_owner(app, container)
    async with container.db.transaction() as uow:
        seed = Seed(uow.session, owner.org_id, owner.id, owner.email)
        await seed.call_quality(clock.now())
        await uow.commit()
    clock.advance(timedelta(days=89))
    await container.retention.purge()
    assert await count(container, Quality) == 1
    clock.advance(timedelta(days=2))
    await container.retention.purge()
    assert await count(container, Quality) == 0
    assert await count(container, Call) == 1  # the call record itself is kept longer


@pytest.mark.promise("P-ACC-7")
async def test_a_guests_data_expires_with_its_call(
    app: FastAPI, container: Container, clock: FixedClock
) -> None:
    owner = await instance_owner(app, container)
    async with container.db.transaction() as uow:
        seed = Seed(uow.session, owner.org_id, owner.id, owner.email)
        guest_id = await seed.call_guests(clock.now())
        guest = await uow.session.get(Guest, guest_id)
        assert guest is not None
        await seed._add(
            Participant, call_id=guest.call_id, guest_id=guest_id, role="guest",
            display_name="Guest Gil", state="left", ip_address="198.51.100.4",
        )  # fmt: skip
        await uow.commit()
    clock.advance(timedelta(days=399))
    await container.retention.purge()
    assert await count(container, Guest, display_name="Guest Gil") == 1
    clock.advance(timedelta(days=2))
    await container.retention.purge()
    assert await count(container, Guest) == 0
    assert await count(container, Participant) == 0
    assert await count(container, Call) == 0


async def test_the_command_reports_per_table_and_a_dry_run_changes_nothing(
    container: Container, settings: Settings
) -> None:
    """`parlour privacy purge` on the real clock: counts per table, a log line per table."""
    now = SystemClock().now()
    async with container.db.transaction() as uow:
        seed = Seed(uow.session, "", "", "")
        old = await seed.signin_failures(now - timedelta(days=3))
        young = await seed.signin_failures(now)
        await uow.commit()
    env = parlour_env(settings.data_dir, database_url=settings.resolved_database_url)
    period = next(p for p in PERIODS if p.name == "signin_failures")
    dry = await asyncio.to_thread(parlour, "privacy", "purge", "--dry-run", env=env)
    assert dry.returncode == 0, dry.stderr
    assert re.search(r"signin_failures .* 1 ", dry.stdout), dry.stdout
    assert "Would purge 1 row." in dry.stdout
    assert await present(container, period, [old, young]) == [True, True]
    done = await asyncio.to_thread(parlour, "privacy", "purge", env=env)
    assert done.returncode == 0, done.stderr
    assert "Purged 1 row." in done.stdout
    assert await present(container, period, [old, young]) == [False, True]
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    logged = {r["table"]: r for r in lines if r.get("event") == "retention.purged"}
    assert set(logged) == {p.name for p in PERIODS} | {"audit_log"}
    assert logged["signin_failures"]["rows"] == 1 and logged["events"]["rows"] == 0


async def test_a_period_that_clears_keeps_the_row_and_empties_its_columns(
    container: Container, clock: FixedClock, app: FastAPI
) -> None:
    """``Purge.CLEAR``, on a table made for the test: the values go, the row stays."""
    owner = await instance_owner(app, container)
    metadata = MetaData()
    cleared = Retention("the note was written", days=10, column="written_at", purge=Purge.CLEAR)
    notes = Table(
        "retention_probe",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("owner_id", String(32), info=personal("user.unique_id", "provide_service",
                                                      retention=cleared)),
        Column("note", String(40), info=personal("user.name", "provide_service",
                                                  retention=cleared)),
        Column("written_at", UTCDateTime()),
        info=subject_table("user", "owner_id"),
    )  # fmt: skip
    async with container.db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    try:
        old = clock.now() - timedelta(days=11)
        async with container.db.engine.begin() as conn:
            await conn.execute(
                notes.insert(),
                [
                    {"id": 1, "owner_id": "someone", "note": "old", "written_at": old},
                    {"id": 2, "owner_id": owner.id, "note": "held", "written_at": old},
                    {"id": 3, "owner_id": "someone", "note": "young", "written_at": clock.now()},
                ],
            )
        await place_hold(owner, owner.id)
        service = RetentionService(container.db, clock, JobRunner(container.db, clock), metadata)
        for _ in range(2):
            (report,) = await service.purge()
            async with container.db.engine.connect() as conn:
                rows = (await conn.execute(select(notes.c.note).order_by(notes.c.id))).all()
            assert [r.note for r in rows] == [None, "held", "young"]
        assert report.action == "clear" and report.rows == 0 and report.held == 1
    finally:
        async with container.db.engine.begin() as conn:
            await conn.run_sync(metadata.drop_all)


async def test_a_job_that_finally_fails_forgets_whose_it_was_and_its_arguments(
    app: FastAPI, container: Container
) -> None:
    """Jobs are left to the runner (a finished row marks keyed work as done once): what it
    keeps of a person goes when the job ends, whether it succeeded or gave up."""
    owner = await instance_owner(app, container)

    async def broken(ctx: JobContext, params: dict[str, Any]) -> None:
        raise RuntimeError("never works")

    container.jobs.register("test.broken", broken, max_attempts=1)
    async with container.db.transaction() as uow:
        job_id = await container.jobs.enqueue_txn(
            uow, "test.broken", {"user_id": owner.id}, subject_id=owner.id
        )
        await uow.commit()
    assert await container.jobs.run_due() == 1
    async with container.db.transaction() as uow:
        job = await uow.session.get(Job, job_id)
    assert job is not None and job.state == FAILED
    assert (job.params, job.subject_id) == ("{}", None)


@pytest.mark.promise("P-RET-2")
async def test_purged_values_leave_the_database_files(
    app: FastAPI, container: Container, clock: FixedClock, settings: Settings
) -> None:
    """A marker in expired rows is gone from the database's bytes (SQLite: the file and its
    log after the purge's checkpoint); the same marker in rows still kept is there."""
    owner = await instance_owner(app, container)
    old = clock.now() - timedelta(days=401)
    gone, kept = f"expired-{new_id()}", f"kept-{new_id()}"
    async with container.db.transaction() as uow:
        seed = Seed(uow.session, owner.org_id, owner.id, owner.email)
        for marker, at in ((gone, old), (kept, clock.now())):
            await seed._add(Event, user_id=owner.id, type="test.event", data=marker, created_at=at)
            guest = await uow.session.get(Guest, await seed.call_guests(at))
            assert guest is not None
            guest.display_name = marker
            await seed._add(
                OutboxMail, id=new_id(), to_addr=owner.email, subject=marker, body=marker,
                status="kept", attempts=0, next_attempt_at=at, created_at=at,
            )  # fmt: skip
        await uow.commit()
    assert found_in({gone, kept}, await database_bytes(container, settings)) == {gone, kept}
    await container.retention.purge()
    assert found_in({gone, kept}, await database_bytes(container, settings)) == {kept}
