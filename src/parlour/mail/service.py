"""Service mail, written in the same transaction as what it announces, then delivered.

A mail is a row first: it exists exactly when the reset or invitation it carries exists. With
SMTP configured, a background sender delivers pending rows with retries and clears their text
once sent; without SMTP the rows are the development outbox the operator reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import smtplib
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from email.policy import default as default_policy

from sqlalchemy import select, update

from parlour.core.clock import Clock
from parlour.core.ids import new_id
from parlour.db.uow import Database, UnitOfWork
from parlour.mail.models import OutboxMail
from parlour.settings import Settings

log = logging.getLogger("parlour.mail")

KEPT, PENDING, SENT, FAILED = "kept", "pending", "sent", "failed"
# Long headers such as List-Unsubscribe's URL must stay readable, not become encoded words.
WIRE_POLICY = default_policy.clone(max_line_length=998)
MAX_ATTEMPTS = 8
LEASE = timedelta(minutes=5)
BATCH = 20


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    body: str
    headers: tuple[tuple[str, str], ...] = ()  # extra headers, such as List-Unsubscribe


def _headers_json(mail: Mail) -> str | None:
    return json.dumps(dict(mail.headers)) if mail.headers else None


def _headers_of(stored: str | None) -> tuple[tuple[str, str], ...]:
    return tuple(json.loads(stored).items()) if stored else ()


class SmtpTransport:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def send(self, mail: Mail) -> None:
        s = self._settings
        message = EmailMessage(policy=WIRE_POLICY)
        message["From"] = s.mail_from
        message["To"] = mail.to
        message["Subject"] = mail.subject
        for name, value in mail.headers:
            message[name] = value
        message.set_content(mail.body)
        with smtplib.SMTP(s.smtp_host or "", s.smtp_port, timeout=20) as smtp:
            if s.smtp_starttls:
                smtp.starttls()
            if s.smtp_username and s.smtp_password:
                smtp.login(s.smtp_username, s.smtp_password.get_secret_value())
            smtp.send_message(message)


def backoff(attempts: int) -> timedelta:
    return timedelta(minutes=min(2**attempts, 360))


class Mailer:
    def __init__(self, db: Database, clock: Clock, transport: SmtpTransport | None) -> None:
        self._db = db
        self._clock = clock
        self._transport = transport
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def keeps_outbox(self) -> bool:
        return self._transport is None

    def queue_txn(self, uow: UnitOfWork, mail: Mail) -> None:
        now = self._clock.now()
        uow.session.add(
            OutboxMail(
                id=new_id(),
                to_addr=mail.to,
                subject=mail.subject,
                body=mail.body,
                headers=_headers_json(mail),
                status=KEPT if self._transport is None else PENDING,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )

        async def _wake() -> None:
            self._wake.set()

        uow.after_commit(_wake)

    def start(self) -> None:
        if self._transport is not None and self._task is None:
            self._task = asyncio.create_task(self._run(), name="parlour-mail-sender")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):  # asyncio.timeout keeps a cancellation
                async with asyncio.timeout(30):
                    await self._wake.wait()
            self._wake.clear()
            try:
                while await self.deliver_due():
                    pass
            except Exception:
                log.exception("mail delivery round failed", extra={"event": "mail.error"})

    async def deliver_due(self) -> int:
        """Claims due mail (a lease keeps other nodes off it), sends it, records the outcome."""
        if self._transport is None:
            return 0
        now = self._clock.now()
        async with self._db.transaction() as uow:
            due = list(
                await uow.session.scalars(
                    select(OutboxMail.id)
                    .where(OutboxMail.status == PENDING, OutboxMail.next_attempt_at <= now)
                    .limit(BATCH)
                )
            )
        sent = 0
        for mail_id in due:
            sent += await self._deliver_one(mail_id)
        return sent

    async def _claim(self, mail_id: str) -> Mail | None:
        now = self._clock.now()
        async with self._db.transaction() as uow:
            claimed = await uow.session.execute(
                update(OutboxMail)
                .where(
                    OutboxMail.id == mail_id,
                    OutboxMail.status == PENDING,
                    OutboxMail.next_attempt_at <= now,
                )
                .values(next_attempt_at=now + LEASE)
            )
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                return None
            row = await uow.session.get(OutboxMail, mail_id)
            await uow.commit()
        return Mail(row.to_addr, row.subject, row.body, _headers_of(row.headers)) if row else None

    async def _deliver_one(self, mail_id: str) -> int:
        mail = await self._claim(mail_id)
        if mail is None or self._transport is None:
            return 0
        try:
            await asyncio.to_thread(self._transport.send, mail)
        except (OSError, smtplib.SMTPException) as exc:
            await self._record(mail_id, error=type(exc).__name__)
            return 0
        await self._record(mail_id, error=None)
        return 1

    async def _record(self, mail_id: str, error: str | None) -> None:
        now = self._clock.now()
        async with self._db.transaction() as uow:
            row = await uow.session.get(OutboxMail, mail_id)
            if row is None:
                return
            if error is None:
                # Delivered: the row keeps the fact and the time, not who it went to or what
                # it said (an erased person's receipt must not outlive its delivery).
                row.status, row.sent_at = SENT, now
                row.to_addr, row.subject, row.body, row.headers = "", "", "", None
                log.info("mail sent", extra={"event": "mail.sent"})
            else:
                row.attempts += 1
                row.status = FAILED if row.attempts >= MAX_ATTEMPTS else PENDING
                row.next_attempt_at = now + backoff(row.attempts)
                log.warning(
                    "mail delivery failed; will retry",
                    extra={"event": "mail.retry", "reason": error, "attempts": row.attempts},
                )
            await uow.commit()

    async def recent(self, limit: int = 50) -> list[OutboxMail]:
        async with self._db.transaction() as uow:
            rows = await uow.session.scalars(
                select(OutboxMail).order_by(OutboxMail.created_at.desc()).limit(limit)
            )
            return list(rows)


def make_mailer(settings: Settings, db: Database, clock: Clock) -> Mailer:
    return Mailer(db, clock, None if settings.dev_outbox else SmtpTransport(settings))
