"""News mail: only to people who opted in, always with a one-click way out (P-CNS-5).

Sending checks the consent gate for each person at the moment their mail is queued, so a
withdrawal, a restriction or a paused policy acceptance stops the next mail. Every mail is plain
text: no images, no tracking pixels, no per-person links except the unsubscribe link, which is
also in the List-Unsubscribe header with List-Unsubscribe-Post (RFC 8058), so mail programs can
offer their own unsubscribe button. The link's token is the proof: it is signed with the
instance key and names the person, so it works without signing in and without a CSRF token.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from itsdangerous import BadSignature, Signer
from sqlalchemy import select

from parlour.core.clock import Clock
from parlour.core.errors import AppError, ErrorCode
from parlour.db.uow import Database
from parlour.features.accounts.models import User
from parlour.features.consent.rules import DataSubject
from parlour.features.consent.service import Change, ConsentService
from parlour.mail.service import Mail, Mailer
from parlour.settings import Settings

log = logging.getLogger("parlour.marketing")

PURPOSE = "marketing"
BATCH = 200
MAX_SUBJECT = 200
MAX_BODY = 50_000
# Plain text only: markup that could load anything from a server is refused outright.
REFUSED_MARKUP = ("<img", "<html", "<iframe", "<link", "<script", "<object", "<embed")


@dataclass(frozen=True)
class Campaign:
    subject: str
    body: str


@dataclass(frozen=True)
class Sent:
    queued: int
    skipped: int  # active people the gate said no for


class MarketingService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        consent: ConsentService,
        mailer: Mailer,
        settings: Settings,
        secret_key: bytes,
    ) -> None:
        self._db = db
        self._clock = clock
        self._consent = consent
        self._mailer = mailer
        self._settings = settings
        self._signer = Signer(secret_key, salt="parlour.unsubscribe")

    # -- tokens ---------------------------------------------------------------------------

    def token_for(self, user_id: str) -> str:
        return self._signer.sign(user_id).decode()

    def user_of(self, token: str) -> str:
        try:
            return self._signer.unsign(token).decode()
        except (BadSignature, UnicodeError):
            raise AppError(ErrorCode.TOKEN_INVALID, "This unsubscribe link is not valid.") from None

    def unsubscribe_url(self, user_id: str) -> str:
        return f"{self._settings.base_url}/unsubscribe/{self.token_for(user_id)}"

    # -- sending --------------------------------------------------------------------------

    @staticmethod
    def check_campaign(subject: str, body: str) -> Campaign:
        subject, body = subject.strip(), body.strip()
        problems: dict[str, str] = {}
        if not subject or len(subject) > MAX_SUBJECT or "\n" in subject:
            problems["subject"] = f"One line of 1 to {MAX_SUBJECT} characters."
        if not body or len(body) > MAX_BODY:
            problems["body"] = f"Plain text of 1 to {MAX_BODY} characters."
        elif any(tag in body.lower() for tag in REFUSED_MARKUP):
            problems["body"] = "Plain text only: no images, frames or scripts."
        if problems:
            raise AppError(
                ErrorCode.VALIDATION_FAILED,
                "This news mail cannot be sent: " + " ".join(problems.values()),
                fields=problems,
            )
        return Campaign(subject, body)

    async def send(self, subject: str, body: str) -> Sent:
        """Queues one mail per active person the consent gate allows, a batch at a time."""
        campaign = self.check_campaign(subject, body)
        queued = skipped = 0
        after = ""
        while True:
            people = await self._people_after(after)
            if not people:
                break
            allowed = [p for p in people if await self._allowed(p.id)]
            async with self._db.transaction() as uow:
                for person in allowed:
                    self._mailer.queue_txn(uow, self._mail(person, campaign))
                await uow.commit()
            queued += len(allowed)
            skipped += len(people) - len(allowed)
            after = people[-1].id
        log.info("news mail queued", extra={"event": "marketing.queued", "count": queued})
        return Sent(queued, skipped)

    async def _people_after(self, after: str) -> list[User]:
        async with self._db.transaction() as uow:
            rows = await uow.session.scalars(
                select(User)
                .where(User.status == "active", User.id > after)
                .order_by(User.id)
                .limit(BATCH)
            )
            return list(rows)

    async def _allowed(self, user_id: str) -> bool:
        return await self._consent.may_process(DataSubject(user_id=user_id), PURPOSE)

    def _mail(self, person: User, campaign: Campaign) -> Mail:
        link = self.unsubscribe_url(person.id)
        centre = f"{self._settings.base_url}/privacy/centre"
        body = (
            f"{campaign.body}\n\n-- \n"
            "You receive this because you agreed to news from Parlour.\n"
            f"Unsubscribe with one click: {link}\n"
            f"Or change your choices in your privacy centre: {centre}\n"
        )
        headers = (
            ("List-Unsubscribe", f"<{link}>"),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        )
        return Mail(person.email, campaign.subject, body, headers)

    # -- leaving --------------------------------------------------------------------------

    async def unsubscribe(self, token: str) -> None:
        """Withdraws consent to news mail for the person the token names; twice is once."""
        user_id = self.user_of(token)
        async with self._db.transaction() as uow:
            exists = await uow.session.get(User, user_id) is not None
        if not exists:
            return  # an erased account: there is nobody left to mail
        subject = DataSubject(user_id=user_id)
        state = await self._consent.state(subject)
        given = any(p.purpose.key == PURPOSE and p.consent == "given" for p in state.purposes)
        if given:
            await self._consent.change(subject, [Change(PURPOSE, "withdraw")], "unsubscribe")
        log.info("unsubscribed", extra={"event": "marketing.unsubscribed", "user": user_id})
