"""Sending webhooks: queued with the event, posted by the job runner, retried, given up.

The event log calls ``queue_txn`` inside the transaction that appends an event, so a delivery
(and its job) exists exactly when the event commits. Each attempt is one job: it builds the
payload from the log, checks the address again, POSTs once without following redirects, and
records the outcome together with the next attempt (RETRY_DELAYS) and the job's end, in one
transaction. A delivery that used every attempt has failed; DISABLE_AFTER of them in a row
disable the endpoint and mail the organisation's owners.
"""

from __future__ import annotations

import logging
import ssl
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx

from parlour.core.clock import Clock
from parlour.core.errors import AppError
from parlour.core.ids import new_id
from parlour.db.uow import Database, UnitOfWork
from parlour.features.audit.service import SYSTEM, Access, AuditLog
from parlour.features.chat.models import Conversation, Event
from parlour.features.webhooks import store
from parlour.features.webhooks.addresses import Policy, Target, check_url
from parlour.features.webhooks.models import (
    ACTIVE,
    CANCELLED,
    DELIVERED,
    DISABLED,
    FAILED,
    LOG_DAYS,
    PENDING,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from parlour.features.webhooks.payloads import data_of, envelope, webhook_type
from parlour.features.webhooks.signing import SecretBox, sign_headers
from parlour.jobs.runner import JobContext, JobRunner
from parlour.mail.service import Mail, Mailer
from parlour.settings import Settings

log = logging.getLogger("parlour.webhooks")

DELIVER = "webhooks.deliver"
PURGE = "webhooks.purge"
# Waits between the 8 attempts of one delivery: about 23 hours in all.
RETRY_DELAYS = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=1),
    timedelta(hours=3),
    timedelta(hours=6),
    timedelta(hours=12),
)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
DISABLE_AFTER = 3  # failed deliveries in a row (each after all its attempts)
USER_AGENT = "Parlour-Webhooks/1"


@dataclass(frozen=True)
class Prepared:
    delivery_id: str
    endpoint_id: str
    url: str
    secrets: list[str]
    body: bytes
    attempt: int


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    def describe(self) -> str:
        return self.error or f"HTTP {self.status_code}"


class WebhookSender:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        jobs: JobRunner,
        mailer: Mailer,
        audit: AuditLog,
        box: SecretBox,
        settings: Settings,
    ) -> None:
        self._db = db
        self._clock = clock
        self._jobs = jobs
        self._mailer = mailer
        self._audit = audit
        self._box = box
        self._settings = settings
        self.policy = Policy(settings.webhook_allow_http, settings.webhook_allow_private)
        # Which certificates to trust: the system's; a test may hand its own CA's context.
        self.tls_verify: ssl.SSLContext | bool = True
        jobs.register(DELIVER, self._deliver, max_attempts=3)
        jobs.register(PURGE, self._purge)
        jobs.every(PURGE, timedelta(hours=6))

    # -- queueing, inside the event's transaction -----------------------------------------

    async def queue_txn(self, uow: UnitOfWork, event: Event) -> None:
        kind = webhook_type(event)
        if kind is None or event.conversation_id is None:
            return
        conversation = await uow.session.get(Conversation, event.conversation_id)
        if conversation is None:
            return
        now = self._clock.now()
        for endpoint in await store.active_endpoints(uow.session, conversation.org_id):
            if kind not in endpoint.types():
                continue
            delivery = WebhookDelivery(
                id=new_id(),
                endpoint_id=endpoint.id,
                event_id=event.id,
                event_type=kind,
                state=PENDING,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
            uow.session.add(delivery)
            await self._jobs.enqueue_txn(uow, DELIVER, {"delivery_id": delivery.id})

    # -- one attempt ----------------------------------------------------------------------

    async def _deliver(self, ctx: JobContext, params: dict[str, Any]) -> None:
        prepared = await self._prepare(str(params["delivery_id"]))
        if prepared is None:
            return
        outcome = await self._post(prepared)
        async with self._db.transaction() as uow:
            await self._record_txn(uow, prepared, outcome)
            await ctx.complete_txn(uow)
            await uow.commit()
        log.info(
            "webhook attempt",
            extra={
                "event": "webhook.attempt",
                "outcome": outcome.describe(),
                "attempt": prepared.attempt,
            },
        )

    async def _prepare(self, delivery_id: str) -> Prepared | None:
        """What to send, or None when there is nothing to send any more."""
        now = self._clock.now()
        async with self._db.transaction() as uow:
            delivery = await uow.session.get(WebhookDelivery, delivery_id)
            if delivery is None or delivery.state != PENDING:
                return None
            endpoint = await uow.session.get(WebhookEndpoint, delivery.endpoint_id)
            event = await uow.session.get(Event, delivery.event_id)
            if endpoint is None or endpoint.state != ACTIVE or event is None:
                delivery.state, delivery.finished_at = CANCELLED, now
                delivery.next_attempt_at = None
                await uow.commit()
                return None
            data = await data_of(uow.session, delivery.event_type, event, endpoint.scope_set())
            body = envelope(delivery.event_type, event, endpoint.org_id, data)
            secrets = [self._box.open(endpoint.secret)]
            if (
                endpoint.previous_secret
                and endpoint.previous_until
                and endpoint.previous_until > now
            ):
                secrets.append(self._box.open(endpoint.previous_secret))
            return Prepared(
                delivery.id, endpoint.id, endpoint.url, secrets, body, delivery.attempts + 1
            )

    async def _post(self, prepared: Prepared) -> Outcome:
        started = time.perf_counter()
        try:
            target = await check_url(prepared.url, self.policy)
        except AppError as error:
            return Outcome(None, error.code.value, 0)
        timestamp = int(self._clock.now().timestamp())
        headers = sign_headers(prepared.secrets, prepared.delivery_id, timestamp, prepared.body)
        headers |= {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "Host": target.host_header,
        }
        try:
            status = await self._send(target, headers, prepared.body)
        except httpx.HTTPError as exc:
            return Outcome(None, _error_class(exc), _ms_since(started))
        return Outcome(status, None, _ms_since(started))

    async def _send(self, target: Target, headers: dict[str, str], body: bytes) -> int:
        """POSTs to the checked addresses in turn until one accepts the connection; no
        proxy from the environment, no redirects, and the answer's body is never read."""
        extensions = {"sni_hostname": target.sni_host} if target.sni_host else {}
        timeout = httpx.Timeout(self._settings.webhook_timeout_seconds)
        async with httpx.AsyncClient(
            timeout=timeout, trust_env=False, verify=self.tls_verify
        ) as client:
            for n, url in enumerate(target.urls, start=1):
                request = client.build_request(
                    "POST", url, content=body, headers=headers, extensions=extensions
                )
                try:
                    response = await client.send(request, stream=True)
                except httpx.ConnectError:
                    if n == len(target.urls):
                        raise
                    continue
                await response.aclose()
                return response.status_code
        raise httpx.ConnectError("no address")  # not reached: check_url gives one at least

    # -- the outcome ----------------------------------------------------------------------

    async def _record_txn(self, uow: UnitOfWork, prepared: Prepared, outcome: Outcome) -> None:
        now = self._clock.now()
        delivery = await uow.session.get(WebhookDelivery, prepared.delivery_id)
        endpoint = await uow.session.get(WebhookEndpoint, prepared.endpoint_id)
        if delivery is None or endpoint is None:  # deleted while we were sending
            return
        if delivery.state != PENDING or delivery.attempts >= prepared.attempt:
            return  # another run of this attempt (a job taken over) recorded it first
        uow.session.add(
            WebhookAttempt(
                id=new_id(),
                delivery_id=delivery.id,
                attempt=prepared.attempt,
                at=now,
                status_code=outcome.status_code,
                duration_ms=outcome.duration_ms,
                error=outcome.error,
            )
        )
        delivery.attempts = prepared.attempt
        endpoint.last_delivery_at, endpoint.last_outcome = now, outcome.describe()
        if outcome.ok:
            delivery.state, delivery.finished_at, delivery.next_attempt_at = DELIVERED, now, None
            endpoint.failed_in_a_row = 0
        elif prepared.attempt < MAX_ATTEMPTS:
            await self._retry_txn(uow, delivery, prepared.attempt)
        else:
            delivery.state, delivery.finished_at, delivery.next_attempt_at = FAILED, now, None
            endpoint.failed_in_a_row += 1
            if endpoint.failed_in_a_row >= DISABLE_AFTER and endpoint.state == ACTIVE:
                await self._disable_txn(uow, endpoint)

    async def _retry_txn(self, uow: UnitOfWork, delivery: WebhookDelivery, attempt: int) -> None:
        due = self._clock.now() + RETRY_DELAYS[attempt - 1]
        delivery.next_attempt_at = due
        key = f"{DELIVER}:{delivery.id}:{attempt + 1}"
        await self._jobs.enqueue_txn(
            uow, DELIVER, {"delivery_id": delivery.id}, run_after=due, key=key
        )

    async def _disable_txn(self, uow: UnitOfWork, endpoint: WebhookEndpoint) -> None:
        endpoint.state = DISABLED
        await store.cancel_pending_txn(uow.session, endpoint.id, self._clock.now())
        for owner in await store.owners_of(uow.session, endpoint.org_id):
            self._mailer.queue_txn(uow, disabled_mail(owner.email, endpoint, self._settings))
        disabled = Access("webhook.disable", None, endpoint.org_id, ("url",))
        await self._audit.record_txn(uow, SYSTEM, disabled)
        log.warning("webhook endpoint disabled", extra={"event": "webhook.disabled"})

    # -- the log's retention --------------------------------------------------------------

    async def _purge(self, ctx: JobContext, params: dict[str, Any]) -> None:
        await self.purge()

    async def purge(self) -> int:
        """Deletes deliveries (and their attempts) queued more than LOG_DAYS days ago."""
        cutoff = self._clock.now() - timedelta(days=LOG_DAYS)
        async with self._db.transaction() as uow:
            gone = await store.purge_before_txn(uow.session, cutoff)
            await uow.commit()
        return gone


def _ms_since(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


def _error_class(exc: httpx.HTTPError) -> str:
    """What went wrong, as a class of error; never the text (it may quote the receiver)."""
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.ConnectError):
        return "connect_error"
    return type(exc).__name__[:80]


def disabled_mail(to: str, endpoint: WebhookEndpoint, settings: Settings) -> Mail:
    return Mail(
        to=to,
        subject="A webhook of your organisation was turned off",
        body=(
            f"Parlour stopped sending webhooks to\n\n  {endpoint.url}\n\nbecause the last "
            f"{DISABLE_AFTER} deliveries to it failed, each after {MAX_ATTEMPTS} attempts over "
            f"about a day (last outcome: {endpoint.last_outcome}).\n\nWhen the receiver works "
            f"again, resume it here:\n\n{settings.base_url}/org/webhooks\n"
        ),
    )
