"""Sends service mail: through SMTP when configured, else into the development outbox."""

from __future__ import annotations

import asyncio
import logging
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol

from sqlalchemy import select

from parlour.core.clock import Clock
from parlour.core.ids import new_id
from parlour.db.uow import Database
from parlour.mail.models import OutboxMail
from parlour.settings import Settings

log = logging.getLogger("parlour.mail")


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    body: str


class Mailer(Protocol):
    async def send(self, mail: Mail) -> None: ...


class SmtpMailer:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    async def send(self, mail: Mail) -> None:
        await asyncio.to_thread(self._send_blocking, mail)

    def _send_blocking(self, mail: Mail) -> None:
        s = self._settings
        message = EmailMessage()
        message["From"] = s.mail_from
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message.set_content(mail.body)
        assert s.smtp_host is not None  # noqa: S101 - chosen only when configured
        with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=20) as smtp:
            if s.smtp_starttls:
                smtp.starttls()
            if s.smtp_username and s.smtp_password:
                smtp.login(s.smtp_username, s.smtp_password.get_secret_value())
            smtp.send_message(message)
        log.info("mail sent", extra={"event": "mail.sent"})


class OutboxMailer:
    """Keeps mail in the database so an operator without SMTP can still read the links."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def send(self, mail: Mail) -> None:
        async with self._db.transaction() as uow:
            uow.session.add(
                OutboxMail(
                    id=new_id(),
                    to_addr=mail.to,
                    subject=mail.subject,
                    body=mail.body,
                    created_at=self._clock.now(),
                )
            )
            await uow.commit()
        log.info("mail kept in the development outbox", extra={"event": "mail.outbox"})

    async def recent(self, limit: int = 50) -> list[OutboxMail]:
        async with self._db.transaction() as uow:
            rows = await uow.session.scalars(
                select(OutboxMail).order_by(OutboxMail.created_at.desc()).limit(limit)
            )
            return list(rows)


def make_mailer(settings: Settings, db: Database, clock: Clock) -> SmtpMailer | OutboxMailer:
    return OutboxMailer(db, clock) if settings.dev_outbox else SmtpMailer(settings)
