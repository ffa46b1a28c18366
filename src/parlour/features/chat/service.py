"""Conversations and membership: direct chats, groups, broadcast lists; who may see what."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from parlour.core.clock import Clock
from parlour.core.errors import AppError, ErrorCode, invalid, not_found
from parlour.core.ids import new_id
from parlour.db.uow import Database, UnitOfWork
from parlour.features.accounts import store as accounts_store
from parlour.features.accounts.actor import Actor
from parlour.features.apikeys import Scope, require_scope
from parlour.features.chat import store
from parlour.features.chat.events import (
    EventLog,
    conversation_channel,
    message_wire,
    user_channel,
)
from parlour.features.chat.models import Conversation, Member, Message

log = logging.getLogger("parlour.chat")

KINDS = ("direct", "group", "broadcast")
MAX_MEMBERS = 1000


@dataclass(frozen=True)
class ConversationView:
    conversation: Conversation
    member: Member
    members: list[Member]
    unread: int
    last_message: Message | None


def direct_key(a: str, b: str) -> str:
    return ":".join(sorted((a, b)))


class ConversationService:
    def __init__(self, db: Database, clock: Clock, events: EventLog) -> None:
        self._db = db
        self._clock = clock
        self._events = events

    # -- access -------------------------------------------------------------------------

    async def access_txn(
        self, session: AsyncSession, actor: Actor, conversation_id: str
    ) -> tuple[Conversation, Member]:
        """The only way to reach a conversation: a current member, else 'not found'."""
        conversation = await session.get(Conversation, conversation_id)
        member = await store.membership(session, conversation_id, actor.user_id)
        if (
            conversation is None
            or conversation.org_id != actor.org_id
            or member is None
            or member.left_event_id is not None
        ):
            raise not_found("conversation")
        return conversation, member

    async def access_with_members_txn(
        self, session: AsyncSession, actor: Actor, conversation_id: str
    ) -> tuple[Conversation, dict[str, str]]:
        """``access_txn`` plus every current member's role by user id, in one query: for the
        send path, which needs the audience anyway."""
        conversation, roles = await store.conversation_with_members(session, conversation_id)
        if (
            conversation is None
            or conversation.org_id != actor.org_id
            or actor.user_id not in roles
        ):
            raise not_found("conversation")
        return conversation, roles

    async def _colleagues_txn(
        self, session: AsyncSession, actor: Actor, user_ids: list[str]
    ) -> list[str]:
        unique = list(dict.fromkeys(u for u in user_ids if u != actor.user_id))
        if len(unique) > MAX_MEMBERS:
            raise invalid("member_ids", f"A conversation has at most {MAX_MEMBERS} members.")
        for user_id in unique:
            user = await accounts_store.user_by_id(session, user_id)
            if user is None or user.org_id != actor.org_id or user.status != "active":
                raise invalid("member_ids", "One of these people is not in your organisation.")
        blockers = await store.blockers_among(session, actor.user_id, unique)
        if blockers:
            raise AppError(ErrorCode.NOT_DELIVERED, "This conversation could not be created.")
        return unique

    # -- creating -----------------------------------------------------------------------

    async def start_direct(self, actor: Actor, other_id: str) -> tuple[Conversation, bool]:
        """The one direct conversation of a pair: returned if it exists, else started."""
        if other_id == actor.user_id:
            raise invalid("user_id", "Start a conversation with someone else.")
        async with self._db.transaction() as uow:
            await uow.serialize_writes()
            [other] = await self._colleagues_txn(uow.session, actor, [other_id])
            existing = await store.direct_between(uow.session, direct_key(actor.user_id, other))
            if existing is not None:
                await self._rejoin_txn(uow, existing, actor.user_id)
                await uow.commit()
                return existing, False
            conversation = await self._create_txn(
                uow, actor, "direct", None, [other], direct_key(actor.user_id, other)
            )
            await uow.commit()
        return conversation, True

    async def create(
        self, actor: Actor, kind: str, name: str | None, member_ids: list[str]
    ) -> Conversation:
        if kind not in ("group", "broadcast"):
            raise invalid("kind", "Create a group or a broadcast list here.")
        if not (name or "").strip():
            raise invalid("name", "Give it a name.")
        async with self._db.transaction() as uow:
            await uow.serialize_writes()
            others = await self._colleagues_txn(uow.session, actor, member_ids)
            if kind == "broadcast" and not others:
                raise invalid("member_ids", "A broadcast list needs recipients.")
            conversation = await self._create_txn(
                uow, actor, kind, (name or "").strip(), others, None
            )
            await uow.commit()
        log.info("conversation created", extra={"event": "chat.created", "kind": kind})
        return conversation

    async def _create_txn(
        self,
        uow: UnitOfWork,
        actor: Actor,
        kind: str,
        name: str | None,
        others: list[str],
        key: str | None,
    ) -> Conversation:
        conversation = Conversation(
            id=new_id(),
            org_id=actor.org_id,
            kind=kind,
            name=name,
            direct_key=key,
            created_by=actor.user_id,
            created_at=self._clock.now(),
            last_event_id=0,
        )
        uow.session.add(conversation)
        await uow.session.flush()
        creator_role = "admin" if kind != "direct" else "member"
        await self._add_member_txn(uow, conversation, actor.user_id, creator_role, actor.user_id)
        for user_id in others:
            await self._add_member_txn(uow, conversation, user_id, "member", actor.user_id)
        return conversation

    async def _add_member_txn(
        self, uow: UnitOfWork, conversation: Conversation, user_id: str, role: str, actor_id: str
    ) -> None:
        event = await self._events.append_txn(
            uow,
            "member.added",
            conversation_id=conversation.id,
            actor_id=actor_id,
            ref=user_id,
            data={"user_id": user_id, "role": role, "conversation_id": conversation.id},
        )
        existing = await store.membership(uow.session, conversation.id, user_id)
        if existing is None:
            uow.session.add(
                Member(
                    conversation_id=conversation.id,
                    user_id=user_id,
                    role=role,
                    joined_event_id=event.id,
                    left_event_id=None,
                    read_message_id=0,
                )
            )
        else:
            existing.role, existing.joined_event_id, existing.left_event_id = role, event.id, None
        conversation.last_event_id = event.id

    async def _rejoin_txn(self, uow: UnitOfWork, conversation: Conversation, user_id: str) -> None:
        member = await store.membership(uow.session, conversation.id, user_id)
        if member is not None and member.left_event_id is not None:
            await self._add_member_txn(uow, conversation, user_id, "member", user_id)

    # -- membership ---------------------------------------------------------------------

    async def add_members(self, actor: Actor, conversation_id: str, user_ids: list[str]) -> None:
        async with self._db.transaction() as uow:
            await uow.serialize_writes()
            conversation, member = await self.access_txn(uow.session, actor, conversation_id)
            self._require_group_admin(conversation, member)
            for user_id in await self._colleagues_txn(uow.session, actor, user_ids):
                current = await store.membership(uow.session, conversation_id, user_id)
                if current is None or current.left_event_id is not None:
                    await self._add_member_txn(uow, conversation, user_id, "member", actor.user_id)
            await uow.commit()

    @staticmethod
    def _require_group_admin(conversation: Conversation, member: Member) -> None:
        if conversation.kind == "direct":
            raise AppError(ErrorCode.FORBIDDEN, "A direct conversation has exactly two people.")
        if member.role != "admin":
            raise AppError(ErrorCode.FORBIDDEN, "Only the conversation's admins can do this.")

    async def remove_member(self, actor: Actor, conversation_id: str, user_id: str) -> None:
        """Admins remove others; anyone may leave. A direct conversation is left, not emptied."""
        async with self._db.transaction() as uow:
            await uow.serialize_writes()
            conversation, member = await self.access_txn(uow.session, actor, conversation_id)
            if user_id != actor.user_id:
                self._require_group_admin(conversation, member)
            target = await store.membership(uow.session, conversation_id, user_id)
            if target is None or target.left_event_id is not None:
                raise not_found("member")
            event = await self._events.append_txn(
                uow,
                "member.removed",
                conversation_id=conversation_id,
                actor_id=actor.user_id,
                ref=user_id,
                data={"user_id": user_id, "conversation_id": conversation_id},
            )
            target.left_event_id = event.id
            conversation.last_event_id = event.id
            await self._keep_an_admin_txn(uow, conversation)
            await uow.commit()

    async def _keep_an_admin_txn(self, uow: UnitOfWork, conversation: Conversation) -> None:
        if conversation.kind == "direct":
            return
        members = await store.current_members(uow.session, conversation.id)
        if members and not any(m.role == "admin" for m in members):
            heir = min(members, key=lambda m: m.joined_event_id)
            await self._set_role_txn(uow, conversation, heir, "admin", None)

    async def set_role(self, actor: Actor, conversation_id: str, user_id: str, role: str) -> None:
        if role not in ("admin", "member"):
            raise invalid("role", "The role is admin or member.")
        async with self._db.transaction() as uow:
            await uow.serialize_writes()
            conversation, member = await self.access_txn(uow.session, actor, conversation_id)
            self._require_group_admin(conversation, member)
            target = await store.membership(uow.session, conversation_id, user_id)
            if target is None or target.left_event_id is not None:
                raise not_found("member")
            await self._set_role_txn(uow, conversation, target, role, actor.user_id)
            await self._keep_an_admin_txn(uow, conversation)
            await uow.commit()

    async def _set_role_txn(
        self, uow: UnitOfWork, conversation: Conversation, target: Member, role: str, by: str | None
    ) -> None:
        target.role = role
        data = {"user_id": target.user_id, "role": role, "conversation_id": conversation.id}
        event = await self._events.append_txn(
            uow,
            "member.updated",
            conversation_id=conversation.id,
            actor_id=by,
            ref=target.user_id,
            data=data,
        )
        conversation.last_event_id = event.id

    async def rename(self, actor: Actor, conversation_id: str, name: str) -> Conversation:
        if not name.strip():
            raise invalid("name", "Give it a name.")
        async with self._db.transaction() as uow:
            await uow.serialize_writes()
            conversation, member = await self.access_txn(uow.session, actor, conversation_id)
            self._require_group_admin(conversation, member)
            conversation.name = name.strip()[:120]
            data = {"conversation_id": conversation_id, "name": conversation.name}
            event = await self._events.append_txn(
                uow,
                "conversation.updated",
                conversation_id=conversation_id,
                actor_id=actor.user_id,
                data=data,
            )
            conversation.last_event_id = event.id
            await uow.commit()
        return conversation

    # -- reading ------------------------------------------------------------------------

    async def list_for(self, actor: Actor) -> list[ConversationView]:
        require_scope(actor, Scope.MESSAGES_READ)
        async with self._db.transaction() as uow:
            rows = await store.conversations_of(uow.session, actor.user_id)
            unread = await store.unread_counts(uow.session, actor.user_id)
            last = await store.last_messages(uow.session, [c.id for c, _ in rows])
            views = []
            for conversation, member in rows:
                members = await store.current_members(uow.session, conversation.id)
                views.append(
                    ConversationView(
                        conversation,
                        member,
                        members,
                        unread.get(conversation.id, 0),
                        last.get(conversation.id),
                    )
                )
            return views

    async def view(self, actor: Actor, conversation_id: str) -> ConversationView:
        require_scope(actor, Scope.MESSAGES_READ)
        async with self._db.transaction() as uow:
            conversation, member = await self.access_txn(uow.session, actor, conversation_id)
            members = await store.current_members(uow.session, conversation_id)
            unread = await store.unread_counts(uow.session, actor.user_id)
            last = await store.last_messages(uow.session, [conversation_id])
            return ConversationView(
                conversation,
                member,
                members,
                unread.get(conversation_id, 0),
                last.get(conversation_id),
            )

    async def channels_for(self, user_id: str) -> list[str]:
        async with self._db.transaction() as uow:
            rows = await store.conversations_of(uow.session, user_id)
        return [user_channel(user_id)] + [conversation_channel(c.id) for c, _ in rows]

    @staticmethod
    def last_message_wire(view: ConversationView) -> dict[str, Any] | None:
        return message_wire(view.last_message, []) if view.last_message else None
