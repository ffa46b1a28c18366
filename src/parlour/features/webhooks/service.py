"""Managing webhook subscriptions: an organisation's owners and admins subscribe, pause, resume,
rotate and delete endpoints, and read the delivery log. Every change is audited; so is a URL
refused as unsafe.

Until organisation API keys bring ``require_scope``, the admin role is the permission here;
a key will need ``webhooks:manage``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta

from parlour.core.clock import Clock
from parlour.core.errors import AppError, ErrorCode, invalid, not_found
from parlour.core.ids import new_id
from parlour.db.uow import Database, UnitOfWork
from parlour.features.accounts.actor import Actor
from parlour.features.apikeys import Scope, is_key, require_scope
from parlour.features.audit.service import Access, AuditLog, Doer
from parlour.features.webhooks import store
from parlour.features.webhooks.addresses import check_url
from parlour.features.webhooks.delivery import WebhookSender
from parlour.features.webhooks.models import (
    ACTIVE,
    PAUSED,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from parlour.features.webhooks.payloads import EVENT_TYPES, PAYLOAD_SCOPES
from parlour.features.webhooks.signing import SecretBox, new_secret

ROTATION_GRACE = timedelta(hours=24)  # the old secret keeps signing this long after a rotation
LOG_PAGE = 100


@dataclass(frozen=True)
class NewEndpoint:
    url: str
    event_types: list[str]
    scopes: list[str]


@dataclass(frozen=True)
class WithSecret:
    """An endpoint and its secret, shown this once."""

    endpoint: WebhookEndpoint
    secret: str


@dataclass(frozen=True)
class LoggedDelivery:
    delivery: WebhookDelivery
    attempts: list[WebhookAttempt]


def _checked_choice(new: NewEndpoint) -> tuple[list[str], list[str]]:
    types = sorted(set(new.event_types))
    if not types or any(t not in EVENT_TYPES for t in types):
        raise invalid("event_types", "Choose one or more of: " + ", ".join(EVENT_TYPES) + ".")
    allowed = {s.value for s in PAYLOAD_SCOPES}
    scopes = sorted(set(new.scopes))
    if any(s not in allowed for s in scopes):
        raise invalid("scopes", "Scopes are any of: " + ", ".join(sorted(allowed)) + ".")
    return types, scopes


def _access(action: str, org_id: str, *fields: str) -> Access:
    return Access(action, None, org_id, fields)


class WebhookService:
    def __init__(
        self, db: Database, clock: Clock, audit: AuditLog, box: SecretBox, sender: WebhookSender
    ) -> None:
        self._db = db
        self._clock = clock
        self._audit = audit
        self._box = box
        self.sender = sender
        self.policy = sender.policy

    @staticmethod
    def _check_admin(actor: Actor, org_id: str) -> None:
        """Another organisation's webhooks look absent; members are told they may not, and so
        is an API key of the organisation without ``webhooks:manage``."""
        if actor.org_id != org_id:
            raise not_found("organisation")
        if is_key(actor):
            require_scope(actor, Scope.WEBHOOKS_MANAGE)
            return
        if not actor.is_admin:
            raise AppError(ErrorCode.FORBIDDEN, "Only the organisation's admins manage webhooks.")

    async def _access_txn(
        self, uow: UnitOfWork, actor: Actor, org_id: str, endpoint_id: str
    ) -> WebhookEndpoint:
        self._check_admin(actor, org_id)
        endpoint = await uow.session.get(WebhookEndpoint, endpoint_id)
        if endpoint is None or endpoint.org_id != org_id:
            raise not_found("webhook")
        return endpoint

    async def create(self, actor: Actor, org_id: str, new: NewEndpoint) -> WithSecret:
        self._check_admin(actor, org_id)
        types, scopes = _checked_choice(new)
        url = await self._checked_url(actor, org_id, new.url)
        secret, now = new_secret(), self._clock.now()
        async with self._db.transaction() as uow:
            if len(await store.endpoints_of(uow.session, org_id)) >= store.MAX_ENDPOINTS:
                raise AppError(ErrorCode.CONFLICT, "This organisation has 50 webhooks already.")
            endpoint = WebhookEndpoint(
                id=new_id(),
                org_id=org_id,
                url=url,
                event_types=json.dumps(types),
                scopes=json.dumps(scopes),
                secret=self._box.seal(secret),
                state=ACTIVE,
                failed_in_a_row=0,
                created_by=actor.user_id,
                created_at=now,
            )
            uow.session.add(endpoint)
            await self._audit.record_txn(
                uow, Doer.of(actor), _access("webhook.create", org_id, "url", "event_types")
            )
            await uow.commit()
        return WithSecret(endpoint, secret)

    async def _checked_url(self, actor: Actor, org_id: str, url: str) -> str:
        """The URL when it may be used; a refusal is audited before it is raised."""
        try:
            await check_url(url, self.policy)
        except AppError as error:
            async with self._db.transaction() as uow:
                refusal = _access("webhook.url_refused", org_id, "url")
                await self._audit.record_txn(uow, Doer.of(actor), refusal)
                await uow.commit()
            raise error from None
        return url.strip()

    async def endpoints(self, actor: Actor, org_id: str) -> list[WebhookEndpoint]:
        self._check_admin(actor, org_id)
        async with self._db.transaction() as uow:
            return await store.endpoints_of(uow.session, org_id)

    async def get(self, actor: Actor, org_id: str, endpoint_id: str) -> WebhookEndpoint:
        async with self._db.transaction() as uow:
            return await self._access_txn(uow, actor, org_id, endpoint_id)

    async def set_state(
        self, actor: Actor, org_id: str, endpoint_id: str, state: str
    ) -> WebhookEndpoint:
        """Pauses (pending deliveries are dropped) or resumes (a disabled endpoint too)."""
        if state not in (ACTIVE, PAUSED):
            raise invalid("state", "The state is active or paused.")
        async with self._db.transaction() as uow:
            endpoint = await self._access_txn(uow, actor, org_id, endpoint_id)
            if endpoint.state != state:
                endpoint.state = state
                if state == ACTIVE:
                    endpoint.failed_in_a_row = 0
                else:
                    await store.cancel_pending_txn(uow.session, endpoint.id, self._clock.now())
                action = "webhook.resume" if state == ACTIVE else "webhook.pause"
                await self._audit.record_txn(uow, Doer.of(actor), _access(action, org_id))
            await uow.commit()
        return endpoint

    async def rotate(self, actor: Actor, org_id: str, endpoint_id: str) -> WithSecret:
        """A new secret signs at once; the old one keeps signing too for ROTATION_GRACE."""
        secret, now = new_secret(), self._clock.now()
        async with self._db.transaction() as uow:
            endpoint = await self._access_txn(uow, actor, org_id, endpoint_id)
            endpoint.previous_secret = endpoint.secret
            endpoint.previous_until = now + ROTATION_GRACE
            endpoint.secret = self._box.seal(secret)
            await self._audit.record_txn(
                uow, Doer.of(actor), _access("webhook.rotate_secret", org_id)
            )
            await uow.commit()
        return WithSecret(endpoint, secret)

    async def delete(self, actor: Actor, org_id: str, endpoint_id: str) -> None:
        async with self._db.transaction() as uow:
            endpoint = await self._access_txn(uow, actor, org_id, endpoint_id)
            await uow.session.delete(endpoint)
            await self._audit.record_txn(uow, Doer.of(actor), _access("webhook.delete", org_id))
            await uow.commit()

    async def log(
        self, actor: Actor, org_id: str, endpoint_id: str, limit: int = LOG_PAGE
    ) -> list[LoggedDelivery]:
        """The newest deliveries with their attempts: status, duration and error class."""
        limit = max(1, min(limit, 500))
        async with self._db.transaction() as uow:
            endpoint = await self._access_txn(uow, actor, org_id, endpoint_id)
            deliveries = await store.deliveries_of(uow.session, endpoint.id, limit)
            attempts = await store.attempts_of(uow.session, [d.id for d in deliveries])
        return [LoggedDelivery(d, attempts[d.id]) for d in deliveries]
