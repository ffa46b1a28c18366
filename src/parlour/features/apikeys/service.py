"""Organisation API keys: made and revoked by the organisation's owners and admins, resolved
on every request made with one, rate limited per key, and every use counted and audited.

A key acts as its own bot account (a ``users`` row of the organisation without a password),
so what it sends is shown under the key's name and reaches only the conversations the bot is
a member of. See docs/api.md, "## API keys".
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from parlour.core.clock import Clock
from parlour.core.errors import AppError, ErrorCode, invalid, not_found
from parlour.core.ids import keyed_digest, new_id, new_token, same
from parlour.db.uow import Database, UnitOfWork
from parlour.features.accounts.actor import Actor
from parlour.features.accounts.models import User
from parlour.features.apikeys import store
from parlour.features.apikeys.access import KEY_PREFIX, KeyActor
from parlour.features.apikeys.limiter import RateLimiter
from parlour.features.apikeys.models import USAGE_DAYS, ApiKey
from parlour.features.apikeys.scopes import Scope
from parlour.features.audit.service import Access, AuditLog, Doer

log = logging.getLogger("parlour.apikeys")

BOT_DOMAIN = "api-keys.invalid"  # RFC 2606: no mail is ever delivered there
BOT_SUFFIX = " (bot)"
NAME_MAX = 80
LAST_USED_EVERY = timedelta(minutes=1)
NOT_A_KEY = "This API key is not valid."


@dataclass(frozen=True)
class NewKey:
    key: ApiKey
    token: str  # pk_<id>_<secret>: shown once, never stored


def key_state(key: ApiKey, now: datetime) -> str:
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at is not None and key.expires_at <= now:
        return "expired"
    return "active"


def scopes_of(key: ApiKey) -> frozenset[Scope]:
    return frozenset(Scope(word) for word in key.scopes.split())


def split_token(token: str) -> tuple[str, str] | None:
    """``pk_<key id>_<secret>`` → (key id, secret); the secret itself may contain '_'."""
    if not token.startswith(KEY_PREFIX):
        return None
    key_id, sep, secret = token[len(KEY_PREFIX) :].partition("_")
    if not sep or len(key_id) != 32 or not secret or len(secret) > 200:
        return None
    return key_id, secret


class ApiKeyService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        secret_key: bytes,
        audit: AuditLog,
        limiter: RateLimiter,
        rate_per_minute: int,
    ) -> None:
        self._db = db
        self._clock = clock
        self._key = secret_key
        self._audit = audit
        self._limiter = limiter
        self._rate = rate_per_minute
        self._sqlite = db.engine.dialect.name == "sqlite"

    async def close(self) -> None:
        await self._limiter.close()

    def _hash(self, key_id: str, secret: str) -> str:
        return keyed_digest(self._key, f"apikey:{key_id}:{secret}")

    # -- managing keys (owners and admins of the organisation) ---------------------------

    @staticmethod
    def _require_admin(actor: Actor, org_id: str) -> None:
        """Another organisation's keys do not exist for you; a key never manages keys."""
        if actor.org_id != org_id:
            raise not_found("organisation")
        if not actor.is_admin or isinstance(actor, KeyActor):
            raise AppError(
                ErrorCode.FORBIDDEN, "Only the organisation's owners and admins manage API keys."
            )

    def _check_new(self, name: str, scopes: list[Scope], expires_at: datetime | None) -> str:
        clean = " ".join(name.split())
        if not clean:
            raise invalid("name", "Give the key a name, such as the program that will use it.")
        if len(clean) > NAME_MAX:
            raise invalid("name", f"Use at most {NAME_MAX} characters.")
        if not scopes:
            raise invalid("scopes", "Choose at least one scope.")
        if expires_at is not None and expires_at <= self._clock.now():
            raise invalid("expires_at", "Choose a time in the future, or none.")
        return clean

    async def create(
        self,
        actor: Actor,
        org_id: str,
        name: str,
        scopes: list[Scope],
        expires_at: datetime | None = None,
    ) -> NewKey:
        self._require_admin(actor, org_id)
        clean = self._check_new(name, scopes, expires_at)
        now = self._clock.now()
        key_id, secret = new_id(), new_token(32)
        granted = sorted({str(scope) for scope in scopes})
        async with self._db.transaction() as uow:
            bot = _bot_user(key_id, org_id, clean, now)
            uow.session.add(bot)
            await uow.session.flush()
            key = ApiKey(
                id=key_id,
                org_id=org_id,
                bot_user_id=bot.id,
                name=clean,
                scopes=" ".join(granted),
                secret_hash=self._hash(key_id, secret),
                created_by=actor.user_id,
                created_at=now,
                expires_at=expires_at,
                last_used_at=None,
                revoked_at=None,
            )
            uow.session.add(key)
            await uow.session.flush()
            await self._audit.record_txn(
                uow, Doer.of(actor), Access("api_key.create", None, org_id, granted)
            )
            await uow.commit()
        log.info("api key created", extra={"event": "apikey.created", "key": key_id})
        return NewKey(key, f"{KEY_PREFIX}{key_id}_{secret}")

    async def list_keys(self, actor: Actor, org_id: str) -> list[ApiKey]:
        self._require_admin(actor, org_id)
        async with self._db.transaction() as uow:
            return await store.keys_of(uow.session, org_id)

    async def revoke(self, actor: Actor, org_id: str, key_id: str) -> ApiKey:
        """Stops the key at once and suspends its bot; revoking twice changes nothing."""
        self._require_admin(actor, org_id)
        async with self._db.transaction() as uow:
            found = await store.key_and_bot(uow.session, key_id)
            if found is None or found[0].org_id != org_id:
                raise not_found("API key")
            key, bot = found
            if key.revoked_at is None:
                key.revoked_at = self._clock.now()
                bot.status = "suspended"
                await self._audit.record_txn(
                    uow, Doer.of(actor), Access("api_key.revoke", None, org_id, ("api_key",))
                )
                await uow.commit()
        log.info("api key revoked", extra={"event": "apikey.revoked", "key": key_id})
        return key

    async def usage(
        self, actor: Actor, org_id: str, key_id: str
    ) -> list[tuple[datetime, int, int]]:
        """The key's counted minutes, oldest first: (minute, served, refused)."""
        self._require_admin(actor, org_id)
        async with self._db.transaction() as uow:
            found = await store.key_and_bot(uow.session, key_id)
            if found is None or found[0].org_id != org_id:
                raise not_found("API key")
            rows = await store.usage_of(uow.session, key_id)
        return [(r.minute, r.requests, r.refused) for r in rows]

    # -- using keys ----------------------------------------------------------------------

    async def authenticate(self, token: str) -> KeyActor:
        """The actor of a request made with ``token``, or a 401/429 problem (counted too)."""
        parts = split_token(token)
        if parts is None:
            raise AppError(ErrorCode.UNAUTHENTICATED, NOT_A_KEY)
        key_id, secret = parts
        async with self._db.transaction() as uow:
            found = await store.key_and_bot(uow.session, key_id)
        if found is None or not same(found[0].secret_hash, self._hash(key_id, secret)):
            raise AppError(ErrorCode.UNAUTHENTICATED, NOT_A_KEY)
        key, bot = found
        await self._refuse_unusable(key, bot)
        verdict = await self._limiter.hit("apikey:" + key.id, self._rate, self._clock.now())
        if not verdict.allowed:
            await self.record(key.id, key.org_id, bot.id, refused="rate_limited")
            raise AppError(
                ErrorCode.RATE_LIMITED,
                f"This API key made more than {self._rate} requests this minute. "
                f"Try again in {verdict.retry_after} seconds.",
                headers={"Retry-After": str(verdict.retry_after)},
                data={"retry_after": verdict.retry_after},
            )
        return _actor_of(key, bot)

    async def _refuse_unusable(self, key: ApiKey, bot: User) -> None:
        state = key_state(key, self._clock.now())
        if state == "active" and bot.status != "active":
            state = "revoked"  # an admin suspended the key's bot account
        if state == "active":
            return
        await self.record(key.id, key.org_id, bot.id, refused=state)
        if state == "expired":
            raise AppError(ErrorCode.API_KEY_EXPIRED, "This API key has expired.")
        raise AppError(ErrorCode.API_KEY_REVOKED, "This API key was revoked.")

    async def record(
        self,
        key_id: str,
        org_id: str,
        bot_id: str,
        refused: str | None = None,
        last_used_at: datetime | None = None,
    ) -> None:
        """Counts one request of the key in its minute. The first served request of each
        minute, and the first refused one, also write an audit entry; the counts say the rest.
        """
        now = self._clock.now()
        minute = now.replace(second=0, microsecond=0)
        async with self._db.transaction() as uow:
            if self._sqlite:  # one writer at a time anyway; queueing beats busy retries
                await uow.serialize_writes()
            count = await store.count_use_txn(
                uow.session, key_id, minute, refused=refused is not None
            )
            if refused is None and (last_used_at is None or now - last_used_at >= LAST_USED_EVERY):
                await store.touch_txn(uow.session, key_id, now, now - LAST_USED_EVERY)
            if count == 1:
                await self._audit_minute_txn(uow, key_id, org_id, bot_id, refused)
            await uow.commit()

    async def _audit_minute_txn(
        self, uow: UnitOfWork, key_id: str, org_id: str, bot_id: str, refused: str | None
    ) -> None:
        action = "api_key.refused" if refused else "api_key.used"
        fields = (refused,) if refused else ("requests",)
        await self._audit.record_txn(
            uow, Doer(bot_id, "api_key"), Access(action, None, org_id, fields)
        )
        cutoff = self._clock.now() - timedelta(days=USAGE_DAYS)
        await store.prune_usage_txn(uow.session, key_id, cutoff)


def _bot_user(key_id: str, org_id: str, name: str, now: datetime) -> User:
    """The key's account: a member without a password, so nobody can sign in as it."""
    return User(
        id=new_id(),
        org_id=org_id,
        email=f"key-{key_id}@{BOT_DOMAIN}",
        name=name + BOT_SUFFIX,
        password_hash=None,
        role="member",
        is_instance_owner=False,
        status="active",
        created_at=now,
        updated_at=now,
    )


def _actor_of(key: ApiKey, bot: User) -> KeyActor:
    return KeyActor(
        user_id=bot.id,
        org_id=key.org_id,
        role="member",
        is_instance_owner=False,
        session_id=key.id,
        via="token",
        signed_in_at=key.created_at,
        reauth_at=None,
        key_id=key.id,
        scopes=scopes_of(key),
        last_used_at=key.last_used_at,
    )
