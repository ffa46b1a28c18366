"""The policy people read, what they accepted, and telling them when it changes (P-POL-1, 2).

When a material version becomes current, a periodic check queues one announcement job for it
(its key is the version, so only one ever exists). The job mails everyone who has not accepted
yet, a batch at a time; each batch's mails and the job's cursor commit together, so a job that
stops halfway and runs again continues after the last person it told and nobody gets two mails.
Until a person accepts, the consent gate keeps every purpose beyond the service itself off.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import MetaData, select, update

from parlour.core.clock import Clock
from parlour.core.errors import AppError, ErrorCode
from parlour.core.ids import new_id
from parlour.db.uow import Database, UnitOfWork
from parlour.features.accounts import store as accounts_store
from parlour.features.accounts.actor import Actor
from parlour.features.accounts.models import PolicyAcceptance, User
from parlour.features.consent.cookies import registry
from parlour.features.privacy import policy_document
from parlour.features.privacy.policy import PolicyBook, PolicyVersion
from parlour.features.privacy.policy_schemas import PolicyDocument
from parlour.jobs.models import Job
from parlour.jobs.runner import JobContext, JobRunner
from parlour.mail.service import Mail, Mailer
from parlour.settings import Settings

log = logging.getLogger("parlour.privacy.policy")

CHECK = "policy.check"
ANNOUNCE = "policy.announce"
BATCH = 200
HOWS = ("signup", "prompt", "api")


class PolicyService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        book: PolicyBook,
        jobs: JobRunner,
        mailer: Mailer,
        settings: Settings,
        metadata: MetaData,
    ) -> None:
        self._db = db
        self._clock = clock
        self.book = book
        self._jobs = jobs
        self._mailer = mailer
        self._settings = settings
        self._metadata = metadata
        jobs.register(CHECK, self._check)
        jobs.register(ANNOUNCE, self._announce, max_attempts=10)
        jobs.every(CHECK, timedelta(hours=1))

    def current(self) -> PolicyVersion:
        return self.book.current(self._clock.now().date())

    def binding(self) -> PolicyVersion:
        return self.book.binding(self._clock.now().date())

    def document(self, pages: frozenset[str]) -> PolicyDocument:
        s = self._settings
        inputs = policy_document.Inputs(
            settings=s,
            book=self.book,
            today=self._clock.now().date(),
            cookies=registry(s.session_days, s.consent_days),
            pages=pages,
        )
        return policy_document.build(self._metadata, inputs)

    # -- acceptance -----------------------------------------------------------------------

    async def pending(self, user_id: str) -> PolicyVersion | None:
        """The version this person must accept before anything optional resumes, if any."""
        async with self._db.transaction() as uow:
            accepted = await self.accepted_txn(uow, user_id)
        return None if accepted else self.current()

    async def accepted_txn(self, uow: UnitOfWork, user_id: str) -> bool:
        """Whether this person accepted the binding material version, or a later one."""
        valid = self.book.still_valid(self._clock.now().date())
        rows = await accounts_store.acceptances_of(uow.session, user_id)
        return any(r.policy_version in valid for r in rows)

    async def accept(self, actor: Actor, version: str, how: str) -> PolicyVersion:
        """Records acceptance of the current version; accepting twice records it once."""
        current = self.current()
        if version != current.version:
            raise AppError(
                ErrorCode.POLICY_NOT_ACCEPTED,
                f"The current privacy policy is version {current.version}; accept that one.",
                fields={"version": "not the current version"},
            )
        async with self._db.transaction() as uow:
            await uow.serialize_writes()
            rows = await accounts_store.acceptances_of(uow.session, actor.user_id)
            if all(r.policy_version != version for r in rows):
                uow.session.add(self._acceptance(actor.user_id, version, how))
                await uow.commit()
        log.info("policy accepted", extra={"event": "policy.accepted", "user": actor.user_id})
        return current

    def _acceptance(self, user_id: str, version: str, how: str) -> PolicyAcceptance:
        return PolicyAcceptance(
            id=new_id(),
            user_id=user_id,
            policy_version=version,
            accepted_at=self._clock.now(),
            how=how if how in HOWS else "api",
        )

    # -- announcing a material change -----------------------------------------------------

    def to_announce(self) -> PolicyVersion | None:
        """The current version, when it is a material change to an earlier one."""
        current = self.current()
        if current.material and self.book.earlier_than(current):
            return current
        return None

    async def announce_due(self) -> None:
        """Queues the announcement of the current material version, once ever."""
        version = self.to_announce()
        if version is None:
            return
        async with self._db.transaction() as uow:
            key = f"{ANNOUNCE}@{version.version}"
            await self._jobs.enqueue_txn(uow, ANNOUNCE, {"version": version.version}, key=key)
            await uow.commit()

    async def _check(self, ctx: JobContext, params: dict[str, Any]) -> None:
        await self.announce_due()

    async def _announce(self, ctx: JobContext, params: dict[str, Any]) -> None:
        version = next((v for v in self.book.versions if v.version == params["version"]), None)
        if version is None:
            return
        after = str(params.get("after", ""))
        while True:
            async with self._db.transaction() as uow:
                users = await self._untold_txn(uow, version, after)
                for user in users:
                    self._mailer.queue_txn(uow, self._announcement(user, version))
                if len(users) < BATCH:
                    await ctx.complete_txn(uow)
                    await uow.commit()
                    return
                after = users[-1].id
                await _checkpoint_txn(uow, ctx.job_id, {**params, "after": after})
                await uow.commit()

    async def _untold_txn(self, uow: UnitOfWork, version: PolicyVersion, after: str) -> list[User]:
        accepted = select(PolicyAcceptance.user_id).where(
            PolicyAcceptance.policy_version.in_(self.book.still_valid(version.effective))
        )
        rows = await uow.session.scalars(
            select(User)
            .where(User.status == "active", User.id > after, User.id.not_in(accepted))
            .order_by(User.id)
            .limit(BATCH)
        )
        return list(rows)

    def _announcement(self, user: User, version: PolicyVersion) -> Mail:
        link = f"{self._settings.base_url}/privacy/policy"
        body = (
            f"Hello {user.name},\n\n"
            f"Our privacy policy changes with version {version.version}, in effect since "
            f"{version.effective.isoformat()}:\n\n  {version.summary}\n\n"
            f"Read it here: {link}\n\n"
            "Chat, calls and your account keep working as before. Anything optional that you "
            "agreed to (such as analytics or news by mail) stays paused until you accept the "
            "new version, which you can do on that page or on any page of Parlour once you "
            "sign in.\n"
        )
        return Mail(user.email, "Our privacy policy has changed", body)


async def _checkpoint_txn(uow: UnitOfWork, job_id: str, params: dict[str, Any]) -> None:
    """Saves how far the announcement got, in the same transaction as the mails it queued."""
    await uow.session.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(params=json.dumps(params, separators=(",", ":")))
        .execution_options(synchronize_session=False)
    )
