"""Tracked privacy requests (P-RIGHTS-6, P-POL-3): opened by a form, confirmed by a mailed
code, answered by the organisation's admins (or the instance's privacy contact) within 15 days.

``open`` answers the same way whether or not an account uses the email, and mails the code to
that email only: the form tells nobody who has an account. Codes are six digits, kept as a
keyed digest, work for 30 minutes and for five tries, and are compared in constant time.
Every step is written to the audit log in the transaction that makes it.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select

from parlour.core.clock import Clock
from parlour.core.errors import AppError, ErrorCode, invalid, not_found
from parlour.core.ids import keyed_digest, new_id
from parlour.db.uow import Database, UnitOfWork
from parlour.features.accounts import store as accounts_store
from parlour.features.accounts.actor import Actor
from parlour.features.accounts.models import User
from parlour.features.audit.service import REQUESTER, SYSTEM, Access, AuditLog, Doer
from parlour.features.requests.models import PrivacyRequest
from parlour.features.requests.states import (
    ANSWERING,
    CLOSED,
    OPEN,
    Kind,
    State,
    check_move,
)
from parlour.jobs.runner import JobContext, JobRunner
from parlour.mail.service import Mail, Mailer
from parlour.settings import Settings

log = logging.getLogger("parlour.requests")

CODE_LIFE = timedelta(minutes=30)
MAX_ATTEMPTS = 5
DEADLINE = timedelta(days=15)
REMIND_AFTER = timedelta(days=10)
REMIND = "requests.remind"
REQUEST_FIELDS = ("name", "email", "kind", "message")


@dataclass(frozen=True)
class NewRequest:
    name: str
    email: str
    kind: Kind
    message: str


def _refused() -> AppError:
    return AppError(
        ErrorCode.VERIFICATION_FAILED,
        "That code does not work: it is wrong, has expired or was tried too often.",
        fields={"code": "Enter the six digits from the mail we sent."},
    )


class RequestService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        mailer: Mailer,
        jobs: JobRunner,
        audit: AuditLog,
        settings: Settings,
        secret_key: bytes,
    ) -> None:
        self._db = db
        self._clock = clock
        self._mailer = mailer
        self._jobs = jobs
        self._audit = audit
        self._settings = settings
        self._key = secret_key
        jobs.register(REMIND, self._remind)

    # -- the requester ----------------------------------------------------------------------

    async def open(self, new: NewRequest) -> str:
        """Records the request and mails a code to the address; returns the request's id."""
        name, email, message = new.name.strip(), new.email.strip().lower(), new.message.strip()
        if not name:
            raise invalid("name", "Enter your name.")
        if not message:
            raise invalid("message", "Tell us what you are asking for.")
        code = f"{secrets.randbelow(10**6):06d}"
        now = self._clock.now()
        async with self._db.transaction() as uow:
            user = await accounts_store.user_by_email(uow.session, email)
            row = PrivacyRequest(
                id=new_id(),
                org_id=user.org_id if user else None,
                user_id=user.id if user else None,
                name=name[:200],
                email=email,
                kind=new.kind.value,
                message=message,
                state=State.RECEIVED.value,
                code_attempts=0,
                code_expires_at=now + CODE_LIFE,
                created_at=now,
            )
            row.code_digest = self._digest(row.id, code)
            uow.session.add(row)
            self._mailer.queue_txn(uow, code_mail(email, code))
            await self._record_txn(uow, REQUESTER, row, "request.open", REQUEST_FIELDS)
            await uow.commit()
        log.info("privacy request opened", extra={"event": "request.opened"})
        return row.id

    def _digest(self, request_id: str, code: str) -> str:
        return keyed_digest(self._key, f"privacy-request:{request_id}:{code}")

    async def verify(self, request_id: str, code: str) -> PrivacyRequest:
        """The right code starts the 15 days; wrong ones count, and five end the code."""
        now = self._clock.now()
        async with self._db.transaction() as uow:
            row = await uow.session.get(PrivacyRequest, request_id)
            if row is None or not self._code_usable(row, now):
                raise _refused()
            given = self._digest(row.id, code.strip())
            if not hmac.compare_digest(given, row.code_digest or ""):
                row.code_attempts += 1
                await uow.commit()
                raise _refused()
            check_move(State(row.state), State.VERIFIED)
            row.state, row.verified_at, row.due_at = State.VERIFIED.value, now, now + DEADLINE
            row.code_digest, row.code_expires_at = None, None
            key = f"{REMIND}:{row.id}"
            await self._jobs.enqueue_txn(
                uow, REMIND, {"request_id": row.id}, run_after=now + REMIND_AFTER, key=key
            )
            for to in await self._handlers_txn(uow, row):
                self._mailer.queue_txn(uow, handler_mail(to, row, self._settings, "new"))
            await self._record_txn(uow, REQUESTER, row, "request.verify", ("email",))
            await uow.commit()
        return row

    @staticmethod
    def _code_usable(row: PrivacyRequest, now: datetime) -> bool:
        return (
            row.state == State.RECEIVED.value
            and row.code_digest is not None
            and row.code_expires_at is not None
            and row.code_expires_at > now
            and row.code_attempts < MAX_ATTEMPTS
        )

    # -- the handlers -----------------------------------------------------------------------

    @staticmethod
    def _visible(actor: Actor) -> Any:
        mine = (PrivacyRequest.org_id == actor.org_id) if actor.is_admin else None
        if actor.is_instance_owner:
            orphan = PrivacyRequest.org_id.is_(None)
            return orphan if mine is None else or_(mine, orphan)
        return mine

    async def for_handler(self, actor: Actor) -> list[PrivacyRequest]:
        """The requests this person answers: their organisation's (admins), and those of people
        without an account (the instance owner)."""
        where = self._visible(actor)
        if where is None:
            raise AppError(ErrorCode.FORBIDDEN, "Only administrators answer privacy requests.")
        async with self._db.transaction() as uow:
            rows = list(
                await uow.session.scalars(
                    select(PrivacyRequest)
                    .where(where)
                    .order_by(PrivacyRequest.created_at.desc(), PrivacyRequest.id)
                    .limit(500)
                )
            )
            reads = [_access(r, "request.list", REQUEST_FIELDS) for r in rows]
            await self._audit.record_txn(uow, Doer.of(actor), *reads)
            await uow.commit()
        return rows

    async def _access_txn(self, uow: UnitOfWork, actor: Actor, request_id: str) -> PrivacyRequest:
        """The only way to load one request; another organisation's looks absent."""
        row = await uow.session.get(PrivacyRequest, request_id)
        if row is None:
            raise not_found("request")
        mine = row.org_id is not None and row.org_id == actor.org_id and actor.is_admin
        orphan = row.org_id is None and actor.is_instance_owner
        if not (mine or orphan):
            raise not_found("request")
        return row

    async def view(self, actor: Actor, request_id: str) -> PrivacyRequest:
        async with self._db.transaction() as uow:
            row = await self._access_txn(uow, actor, request_id)
            await self._record_txn(uow, Doer.of(actor), row, "request.view", REQUEST_FIELDS)
            await uow.commit()
        return row

    async def move(self, actor: Actor, request_id: str, target: State) -> PrivacyRequest:
        """Moves a request along (in progress, withdrawn); answers go through ``answer``."""
        if target in ANSWERING:
            raise invalid("state", "Answer or refuse with the answer's text.")
        async with self._db.transaction() as uow:
            row = await self._access_txn(uow, actor, request_id)
            check_move(State(row.state), target)
            row.state = target.value
            if target in CLOSED:
                row.closed_at = self._clock.now()
            await self._record_txn(uow, Doer.of(actor), row, f"request.{target.value}", ("state",))
            await uow.commit()
        return row

    async def answer(
        self, actor: Actor, request_id: str, text: str, *, refuse: bool = False
    ) -> PrivacyRequest:
        """Records the answer (text, who, when), closes the request and mails the requester."""
        if not text.strip():
            raise invalid("answer", "Write the answer the requester will receive.")
        target = State.REFUSED if refuse else State.ANSWERED
        now = self._clock.now()
        async with self._db.transaction() as uow:
            row = await self._access_txn(uow, actor, request_id)
            check_move(State(row.state), target)
            row.state, row.closed_at = target.value, now
            row.answer, row.answered_by, row.answered_at = text.strip(), actor.user_id, now
            self._mailer.queue_txn(uow, answer_mail(row, self._settings))
            fields = ("state", "answer")
            await self._record_txn(uow, Doer.of(actor), row, f"request.{target.value}", fields)
            await uow.commit()
        return row

    # -- reminders --------------------------------------------------------------------------

    async def _remind(self, ctx: JobContext, params: dict[str, Any]) -> None:
        async with self._db.transaction() as uow:
            row = await uow.session.get(PrivacyRequest, str(params["request_id"]))
            if row is not None and State(row.state) in OPEN and row.reminded_at is None:
                for to in await self._handlers_txn(uow, row):
                    self._mailer.queue_txn(uow, handler_mail(to, row, self._settings, "reminder"))
                row.reminded_at = self._clock.now()
                await self._record_txn(uow, SYSTEM, row, "request.remind", ())
            await ctx.complete_txn(uow)
            await uow.commit()

    async def _handlers_txn(self, uow: UnitOfWork, row: PrivacyRequest) -> list[str]:
        """Who answers: the organisation's active admins; for people without an account, the
        instance's privacy contact, else its DPO, else its owners."""
        if row.org_id is None:
            contact = self._settings.privacy_contact_email or self._settings.dpo_email
            if contact:
                return [contact]
        query = select(User.email).where(User.status == "active")
        if row.org_id is None:
            query = query.where(User.is_instance_owner.is_(True))
        else:
            query = query.where(User.org_id == row.org_id, User.role.in_(("owner", "admin")))
        return sorted(set(await uow.session.scalars(query)))

    async def _record_txn(
        self,
        uow: UnitOfWork,
        doer: Doer,
        row: PrivacyRequest,
        action: str,
        fields: tuple[str, ...],
    ) -> None:
        await self._audit.record_txn(uow, doer, _access(row, action, fields))


def _access(row: PrivacyRequest, action: str, fields: tuple[str, ...]) -> Access:
    return Access(action, row.user_id, row.org_id, fields, request_id=row.id)


# -- mail ---------------------------------------------------------------------------------------


def code_mail(email: str, code: str) -> Mail:
    return Mail(
        to=email,
        subject="Confirm your privacy request",
        body=(
            "Someone, hopefully you, sent a privacy request from this address.\n\n"
            f"Your code is {code}. Enter it on the page you came from; it works for 30 minutes.\n\n"
            "If you did not send a request, ignore this mail: nothing happens without the code.\n"
        ),
    )


def handler_mail(to: str, row: PrivacyRequest, settings: Settings, why: str) -> Mail:
    due = f"{row.due_at:%Y-%m-%d}" if row.due_at else "in 15 days"
    link = f"{settings.base_url}/api/v1/privacy-requests/{row.id}"
    if why == "reminder":
        subject, first = "Reminder: a privacy request is due", "A privacy request is still open."
    else:
        subject, first = "A new privacy request", "A privacy request was confirmed by its sender."
    return Mail(
        to=to,
        subject=subject,
        body=(
            f"{first}\n\nKind: {row.kind}\nAnswer by: {due}\nReference: {row.id}\n({link})\n\n"
            "The law gives the requester an answer within the deadline; record it in Parlour "
            "so it is mailed and kept.\n"
        ),
    )


def answer_mail(row: PrivacyRequest, settings: Settings) -> Mail:
    outcome = "answered" if row.state == State.ANSWERED.value else "refused"
    contact = settings.dpo_email or settings.privacy_contact_email
    more = f"\nQuestions about this answer: {contact}\n" if contact else ""
    return Mail(
        to=row.email,
        subject=f"Your privacy request is {outcome}",
        body=(
            f"Hello {row.name},\n\nYour {row.kind} request of {row.created_at:%Y-%m-%d} is "
            f"{outcome}. The answer:\n\n{row.answer}\n{more}"
        ),
    )
