"""Contacts, blocks and the usage records an organisation's admins may read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from parlour.core.clock import Clock
from parlour.core.errors import AppError, ErrorCode, invalid, not_found
from parlour.db.uow import Database
from parlour.features.accounts import store as accounts_store
from parlour.features.accounts.actor import Actor
from parlour.features.apikeys import may_read_admin
from parlour.features.audit.service import Access, AuditLog, Doer, subjects
from parlour.features.chat import store
from parlour.features.chat.models import Block, Contact, MessageUsage

USAGE_PAGE = 500
USAGE_FIELDS = ("time", "destination", "status", "size")


@dataclass(frozen=True)
class UsageQuery:
    since: datetime | None
    until: datetime | None
    after_id: int
    limit: int = USAGE_PAGE


class SocialService:
    def __init__(self, db: Database, clock: Clock, audit: AuditLog) -> None:
        self._db = db
        self._clock = clock
        self._audit = audit

    async def _colleague(self, actor: Actor, user_id: str) -> None:
        if user_id == actor.user_id:
            raise invalid("user_id", "That is you.")
        async with self._db.transaction() as uow:
            user = await accounts_store.user_by_id(uow.session, user_id)
        if user is None or user.org_id != actor.org_id:
            raise not_found("user")

    # -- blocks -------------------------------------------------------------------------

    async def block(self, actor: Actor, user_id: str) -> None:
        """They can no longer message or call you, and are told only 'not delivered'."""
        await self._colleague(actor, user_id)
        async with self._db.transaction() as uow:
            if not await store.is_blocked(uow.session, actor.user_id, user_id):
                uow.session.add(
                    Block(
                        blocker_id=actor.user_id, blocked_id=user_id, created_at=self._clock.now()
                    )
                )
            await uow.commit()

    async def unblock(self, actor: Actor, user_id: str) -> None:
        async with self._db.transaction() as uow:
            row = await uow.session.get(Block, (actor.user_id, user_id))
            if row is None:
                raise not_found("block")
            await uow.session.delete(row)
            await uow.commit()

    async def blocks(self, actor: Actor) -> list[Block]:
        async with self._db.transaction() as uow:
            return await store.blocks_of(uow.session, actor.user_id)

    # -- contacts -----------------------------------------------------------------------

    async def save_contact(self, actor: Actor, user_id: str, nickname: str | None) -> Contact:
        await self._colleague(actor, user_id)
        nickname = (nickname or "").strip()[:120] or None
        async with self._db.transaction() as uow:
            row = await uow.session.get(Contact, (actor.user_id, user_id))
            if row is None:
                row = Contact(
                    owner_id=actor.user_id,
                    contact_id=user_id,
                    nickname=nickname,
                    created_at=self._clock.now(),
                )
                uow.session.add(row)
            else:
                row.nickname = nickname
            await uow.commit()
        return row

    async def remove_contact(self, actor: Actor, user_id: str) -> None:
        async with self._db.transaction() as uow:
            row = await uow.session.get(Contact, (actor.user_id, user_id))
            if row is None:
                raise not_found("contact")
            await uow.session.delete(row)
            await uow.commit()

    async def contacts(self, actor: Actor) -> list[Contact]:
        async with self._db.transaction() as uow:
            return await store.contacts_of(uow.session, actor.user_id)

    # -- usage --------------------------------------------------------------------------

    async def usage(self, actor: Actor, org_id: str, query: UsageQuery) -> list[MessageUsage]:
        """Time, source, destination, status and size of each message: never its content."""
        if actor.org_id != org_id:
            raise not_found("organisation")
        if not may_read_admin(actor, org_id):
            raise AppError(ErrorCode.FORBIDDEN, "Only the organisation's admins can see usage.")
        statement = select(MessageUsage).where(
            MessageUsage.org_id == org_id, MessageUsage.id > query.after_id
        )
        if query.since is not None:
            statement = statement.where(MessageUsage.created_at >= query.since)
        if query.until is not None:
            statement = statement.where(MessageUsage.created_at < query.until)
        async with self._db.transaction() as uow:
            rows = list(
                await uow.session.scalars(
                    statement.order_by(MessageUsage.id).limit(max(1, min(query.limit, USAGE_PAGE)))
                )
            )
            reads = [
                Access("usage.read", sender, org_id, USAGE_FIELDS)
                for sender in subjects(rows, "sender_id")
            ]
            await self._audit.record_txn(uow, Doer.of(actor), *reads)
            await uow.commit()
        return rows
