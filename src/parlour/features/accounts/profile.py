"""Profiles: reading and correcting one's own, email changes, and profile pictures."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from parlour.core.clock import Clock
from parlour.core.errors import AppError, ErrorCode, invalid, not_found
from parlour.core.ids import new_id
from parlour.db.uow import Database
from parlour.features.accounts import store
from parlour.features.accounts.actor import Actor
from parlour.features.accounts.display import is_gone
from parlour.features.accounts.images import reencode_avatar
from parlour.features.accounts.models import User
from parlour.features.accounts.service import AccountService, blank_to_none
from parlour.features.audit.service import Access, AuditLog, Doer
from parlour.storage.blobs import BlobStore

log = logging.getLogger("parlour.profile")

EDITABLE = ("name", "phone", "title", "department", "location")
PROFILE_FIELDS = ("name", "email", "phone", "title", "department", "location", "role", "status")


@dataclass(frozen=True)
class ProfileChange:
    """Only the fields a client sent; None inside means 'clear it'."""

    values: dict[str, str | None]


class ProfileService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        blobs: BlobStore,
        accounts: AccountService,
        avatar_max: int,
        audit: AuditLog,
    ) -> None:
        self._audit = audit
        self._db = db
        self._clock = clock
        self._blobs = blobs
        self._accounts = accounts
        self._avatar_max = avatar_max

    async def me(self, actor: Actor) -> User:
        async with self._db.transaction() as uow:
            user = await store.user_by_id(uow.session, actor.user_id)
        if user is None:
            raise AppError(ErrorCode.UNAUTHENTICATED, "Sign in again.")
        return user

    async def access_user(self, actor: Actor, user_id: str) -> User:
        """A colleague's profile: same organisation only; absent and foreign look the same."""
        async with self._db.transaction() as uow:
            user = await store.user_by_id(uow.session, user_id)
            if user is None or user.org_id != actor.org_id:
                raise not_found("user")
            if actor.is_admin and user.id != actor.user_id and not is_gone(user):
                # An admin sees more than a colleague would care to know: it is recorded.
                read = Access("profile.read", user.id, user.org_id, PROFILE_FIELDS)
                await self._audit.record_txn(uow, Doer.of(actor), read)
                await uow.commit()
        return user

    async def update(self, actor: Actor, change: ProfileChange) -> User:
        unknown = set(change.values) - set(EDITABLE)
        if unknown:
            raise invalid(sorted(unknown)[0], "This field cannot be changed here.")
        if "name" in change.values and not (change.values["name"] or "").strip():
            raise invalid("name", "Your name cannot be empty.")
        async with self._db.transaction() as uow:
            user = await store.user_by_id(uow.session, actor.user_id)
            if user is None:
                raise AppError(ErrorCode.UNAUTHENTICATED, "Sign in again.")
            for field, value in change.values.items():
                setattr(user, field, blank_to_none(value))
            user.updated_at = self._clock.now()
            await uow.commit()
        log.info("profile updated", extra={"event": "profile.updated", "user": actor.user_id})
        return user

    async def change_email(self, actor: Actor, password: str, new_email: str) -> User:
        """Re-verifies the password in the same request (a changed email can take an account)."""
        await self._accounts.verify_password(actor, password)
        email = new_email.strip().lower()
        async with self._db.transaction() as uow:
            other = await store.user_by_email(uow.session, email)
            if other is not None and other.id != actor.user_id:
                raise invalid(
                    "email", "An account with this email exists already.", ErrorCode.EMAIL_TAKEN
                )
            user = await store.user_by_id(uow.session, actor.user_id)
            if user is None:
                raise AppError(ErrorCode.UNAUTHENTICATED, "Sign in again.")
            user.email = email
            user.updated_at = self._clock.now()
            await uow.commit()
        return user

    async def set_avatar(self, actor: Actor, data: bytes) -> User:
        png = reencode_avatar(data, self._avatar_max)
        key = f"avatars/{new_id()}.png"
        await self._blobs.put(key, png)
        try:
            async with self._db.transaction() as uow:
                user = await store.user_by_id(uow.session, actor.user_id)
                if user is None:
                    raise AppError(ErrorCode.UNAUTHENTICATED, "Sign in again.")
                old, user.avatar_key = user.avatar_key, key
                user.updated_at = self._clock.now()
                await uow.commit()
        except BaseException:
            await self._blobs.delete(key)
            raise
        if old:
            await self._blobs.delete(old)
        return user

    async def remove_avatar(self, actor: Actor) -> None:
        async with self._db.transaction() as uow:
            user = await store.user_by_id(uow.session, actor.user_id)
            old = user.avatar_key if user else None
            if user is not None:
                user.avatar_key = None
            await uow.commit()
        if old:
            await self._blobs.delete(old)

    async def avatar(self, actor: Actor, user_id: str) -> bytes:
        user = await self.access_user(actor, user_id)
        shown = user.avatar_key and not is_gone(user)  # a deleted account shows no picture
        data = await self._blobs.get(user.avatar_key) if shown and user.avatar_key else None
        if data is None:
            raise not_found("picture")
        return data
