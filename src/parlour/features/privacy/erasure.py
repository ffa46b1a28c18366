"""Delete my account (P-RIGHTS-4): closed at once, erased by a durable job within a bound.

The request, after re-authentication (P-ACC-5), closes the account, revokes every session and
token and queues the erasure job, in one transaction: from its commit on, nothing signs in. The
job then applies the data map's rules in one transaction per person (see eraser.py), removes
the person's blobs, queues the receipt of what was kept and why, and, on SQLite, rebuilds the
full-text index and checkpoints the log so the erased bytes leave the database files.

A legal hold on the person defers the erasure: the account stays closed, the data stays as it
is, the person is told why, and lifting the last hold queues the erasure again.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import MetaData, delete, select, text

from parlour.core.clock import Clock
from parlour.core.errors import AppError, ErrorCode
from parlour.db.uow import Database, UnitOfWork
from parlour.features.accounts import store as accounts_store
from parlour.features.accounts.actor import Actor
from parlour.features.accounts.models import AuthSession, User
from parlour.features.accounts.service import AccountService
from parlour.features.privacy.datamap import DERIVED_TABLES
from parlour.features.privacy.eraser import Eraser, Kept, Outcome
from parlour.features.privacy.models import LegalHold
from parlour.features.privacy.walker import Identity
from parlour.jobs.models import Job
from parlour.jobs.runner import JobContext, JobRunner
from parlour.mail.service import Mail, Mailer
from parlour.settings import Settings
from parlour.storage.blobs import BlobStore

log = logging.getLogger("parlour.privacy.erasure")

ERASE = "privacy.erase"
CLOSED = "closed"


class ErasureService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        blobs: BlobStore,
        jobs: JobRunner,
        mailer: Mailer,
        accounts: AccountService,
        settings: Settings,
        metadata: MetaData,
    ) -> None:
        self._db = db
        self._clock = clock
        self._blobs = blobs
        self._jobs = jobs
        self._mailer = mailer
        self._accounts = accounts
        self._settings = settings
        self._metadata = metadata
        jobs.register(ERASE, self._erase, max_attempts=8)

    @property
    def bound(self) -> timedelta:
        return timedelta(hours=self._settings.erasure_hours)

    async def request(self, actor: Actor) -> datetime:
        """Closes the account now and queues its erasure; returns the time it is due by."""
        self._accounts.require_recent_auth(actor)
        now = self._clock.now()
        async with self._db.transaction() as uow:
            user = await accounts_store.user_by_id(uow.session, actor.user_id)
            if user is None or user.status != "active":
                raise AppError(ErrorCode.UNAUTHENTICATED, "Sign in again.")
            await self._check_not_last_owner(uow, user)
            user.status, user.updated_at = CLOSED, now
            await uow.session.execute(delete(AuthSession).where(AuthSession.user_id == user.id))
            await self.enqueue_txn(uow, user.id)
            await uow.commit()
        log.info("account closed for erasure", extra={"event": "erasure.requested"})
        return now + self.bound

    async def _check_not_last_owner(self, uow: UnitOfWork, user: User) -> None:
        if user.role != "owner":
            return
        owners = await uow.session.scalar(
            select(User.id).where(
                User.org_id == user.org_id,
                User.role == "owner",
                User.status == "active",
                User.id != user.id,
            )
        )
        if owners is None:
            raise AppError(
                ErrorCode.LAST_OWNER,
                "You are the organisation's last owner: make someone else an owner first.",
            )

    async def enqueue_txn(self, uow: UnitOfWork, user_id: str) -> None:
        # The job names the person only in its arguments, which are cleared when it is done.
        await self._jobs.enqueue_txn(uow, ERASE, {"user_id": user_id})

    # -- the job --------------------------------------------------------------------------

    async def _erase(self, ctx: JobContext, params: dict[str, Any]) -> None:
        user_id = str(params["user_id"])
        async with self._db.transaction() as uow:
            if self._db.engine.dialect.name == "sqlite":
                await uow.serialize_writes()  # one writer anyway; wait in line, not in retries
            user = await accounts_store.user_by_id(uow.session, user_id)
            if user is None or user.status != CLOSED:
                await ctx.complete_txn(uow)  # erased already, or the request was withdrawn
                await uow.commit()
                return
            holds = await self._active_holds(uow, user_id)
            if holds:
                self._mailer.queue_txn(uow, held_mail(user.email, holds))
                await ctx.complete_txn(uow)
                await uow.commit()
                log.info("erasure deferred by a legal hold", extra={"event": "erasure.held"})
                return
            outcome = await self._erase_txn(uow, ctx, user)
            for key in outcome.blob_keys:  # before commit: a retry finds them gone, harmlessly
                await self._blobs.delete(key)
            await uow.commit()
        await self._compact(outcome)
        log.info("account erased", extra={"event": "erasure.done", "kept": len(outcome.kept)})

    async def _erase_txn(self, uow: UnitOfWork, ctx: JobContext, user: User) -> Outcome:
        who = Identity(user.id, user.email)
        email, name, org_id = user.email, user.name, user.org_id
        uow.session.expunge(user)
        eraser = Eraser(uow.session, self._metadata, who, spare={"jobs": Job.id != ctx.job_id})
        outcome = await eraser.erase_txn(org_id, self._clock.now())
        self._mailer.queue_txn(uow, receipt_mail(email, name, outcome))
        await ctx.complete_txn(uow)
        return outcome

    async def _active_holds(self, uow: UnitOfWork, user_id: str) -> list[LegalHold]:
        rows = await uow.session.scalars(
            select(LegalHold).where(LegalHold.user_id == user_id, LegalHold.released_at.is_(None))
        )
        return list(rows)

    async def _compact(self, outcome: Outcome) -> None:
        """Make the erased bytes leave the database files, not just the visible rows.

        SQLite (secure_delete is on, so freed space is zeroed): merge the full-text index so
        no old segment keeps an erased word, then move the log's pages into the database and
        truncate the log. PostgreSQL: vacuum the touched tables, so the dead row versions and
        their index entries (the text-search index among them) are removed now rather than
        whenever autovacuum comes by.
        """
        if self._db.engine.dialect.name == "sqlite":
            async with self._db.engine.connect() as conn:
                for derived in DERIVED_TABLES:
                    await conn.execute(
                        text(f"INSERT INTO {derived}({derived}) VALUES ('optimize')")  # noqa: S608
                    )
                await conn.commit()
                await conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
            return
        async with self._db.engine.connect() as conn:
            auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
            for name in sorted(outcome.touched | {"users"}):
                await auto.execute(text(f'VACUUM "{name}"'))


def _kept_lines(kept: list[Kept]) -> str:
    if not kept:
        return "Nothing was kept.\n"
    return "".join(f"- {k.column} ({k.category}): {k.why}.\n" for k in kept)


def receipt_mail(email: str, name: str, outcome: Outcome) -> Mail:
    return Mail(
        to=email,
        subject="Your Parlour account is erased",
        body=(
            f"Hello {name},\n\nAs you asked, your Parlour account is erased. Your profile, "
            "picture, sessions, contacts, reactions and the text of your messages are deleted. "
            f'In conversations you shared, your place is taken by "{outcome.pseudonym}".\n\n'
            "What was kept, and why:\n"
            f"{_kept_lines(outcome.kept)}\n"
            "This is the last mail we send to this address.\n"
        ),
    )


def held_mail(email: str, holds: list[LegalHold]) -> Mail:
    reasons = "".join(f"- recorded {h.created_at:%Y-%m-%d}: {h.reason}\n" for h in holds)
    return Mail(
        to=email,
        subject="Your Parlour account is closed; erasure is on hold",
        body=(
            "Your account is closed and nobody can sign in to it. Your organisation has "
            "recorded a legal hold, so your data is kept unchanged for now:\n"
            f"{reasons}\nWhen the hold is lifted, the erasure runs and you receive a receipt.\n"
        ),
    )
