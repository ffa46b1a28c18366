"""Messages: send (idempotent), edit, delete for everyone, react, read markers, history, search."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError

from parlour.core.clock import Clock
from parlour.core.errors import AppError, ErrorCode, invalid, not_found
from parlour.db.uow import Database, UnitOfWork
from parlour.features.accounts.actor import Actor
from parlour.features.apikeys import Scope, require_scope
from parlour.features.chat import search, store
from parlour.features.chat.events import (
    EventLog,
    message_wire,
)
from parlour.features.chat.models import Conversation, Member, Message, MessageUsage, Reaction
from parlour.features.chat.service import ConversationService, direct_key

log = logging.getLogger("parlour.chat")

MAX_CHARS = 10_000
MAX_EMOJI = 32
PAGE = 50


@dataclass(frozen=True)
class Sent:
    message: dict[str, Any]
    created: bool


def check_body(body: str) -> str:
    if not body.strip():
        raise invalid("body", "Write something to send.")
    if len(body) > MAX_CHARS:
        raise AppError(
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"A message has at most {MAX_CHARS} characters.",
            fields={"body": f"at most {MAX_CHARS} characters"},
        )
    return body


class MessageService:
    def __init__(
        self, db: Database, clock: Clock, events: EventLog, conversations: ConversationService
    ) -> None:
        self._db = db
        self._clock = clock
        self._events = events
        self._conversations = conversations

    # -- sending ------------------------------------------------------------------------

    async def send(
        self,
        actor: Actor,
        conversation_id: str,
        body: str,
        reply_to: int | None = None,
        idempotency_key: str | None = None,
    ) -> Sent:
        require_scope(actor, Scope.MESSAGES_WRITE)
        check_body(body)
        try:
            return await self._send_once(actor, conversation_id, body, reply_to, idempotency_key)
        except IntegrityError:
            # Two retries raced with one key: the winner's message is the answer.
            if idempotency_key is None:
                raise
            return await self._send_once(actor, conversation_id, body, reply_to, idempotency_key)

    async def _send_once(
        self,
        actor: Actor,
        conversation_id: str,
        body: str,
        reply_to: int | None,
        key: str | None,
    ) -> Sent:
        async with self._db.transaction() as uow:
            await uow.serialize_writes()
            conversation, roles = await self._conversations.access_with_members_txn(
                uow.session, actor, conversation_id
            )
            if key is not None:
                earlier = await store.by_idempotency(uow.session, actor.user_id, key)
                if earlier is not None:
                    return self._replay(earlier, conversation_id, body)
            others = [user_id for user_id in roles if user_id != actor.user_id]
            await self._check_may_send_txn(uow, actor, conversation, roles, others, body)
            if reply_to is not None:
                await self._check_reply_txn(uow, conversation_id, reply_to)
            message = await self._write_txn(uow, actor, conversation, body, reply_to, key)
            await self._usage_txn(uow, actor, conversation, others, body, "delivered")
            if conversation.kind == "broadcast":
                await self._copy_to_recipients_txn(uow, actor, others, body)
            wire = message_wire(message, [])
            await uow.commit()
        return Sent(wire, True)

    @staticmethod
    def _replay(earlier: Message, conversation_id: str, body: str) -> Sent:
        if earlier.conversation_id != conversation_id or (
            earlier.deleted_at is None and earlier.body != body
        ):
            raise AppError(
                ErrorCode.CONFLICT,
                "This Idempotency-Key was used for a different message.",
                fields={"Idempotency-Key": "reused with other content"},
            )
        return Sent(message_wire(earlier, []), False)

    async def _check_may_send_txn(
        self,
        uow: UnitOfWork,
        actor: Actor,
        conversation: Conversation,
        roles: dict[str, str],
        others: list[str],
        body: str,
    ) -> None:
        if conversation.kind == "broadcast" and roles[actor.user_id] != "admin":
            raise AppError(ErrorCode.FORBIDDEN, "Only the sender of a broadcast list posts to it.")
        if conversation.kind != "direct":
            return
        if not others or await store.blockers_among(uow.session, actor.user_id, others):
            await self._usage_txn(uow, actor, conversation, others, body, "not_delivered")
            await uow.commit()
            raise AppError(ErrorCode.NOT_DELIVERED, "Your message was not delivered.")

    @staticmethod
    async def _check_reply_txn(uow: UnitOfWork, conversation_id: str, reply_to: int) -> None:
        target = await uow.session.get(Message, reply_to)
        if target is None or target.conversation_id != conversation_id:
            raise invalid("reply_to", "You can only reply to a message of this conversation.")

    async def _write_txn(
        self,
        uow: UnitOfWork,
        actor: Actor,
        conversation: Conversation,
        body: str,
        reply_to: int | None,
        key: str | None,
    ) -> Message:
        message = Message(
            conversation_id=conversation.id,
            sender_id=actor.user_id,
            body=body,
            reply_to_id=reply_to,
            idempotency_key=key,
            created_at=self._clock.now(),
        )
        uow.session.add(message)
        await uow.session.flush()
        await search.index_txn(uow.session, message, new=True)
        await self._announce_txn(uow, "message.created", message, actor.user_id)
        return message

    async def _announce_txn(
        self,
        uow: UnitOfWork,
        type_: str,
        message: Message,
        actor_id: str,
        change: str | None = None,
    ) -> None:
        """``change`` says what a ``message.updated`` was (edited, deleted, reaction), for
        the log's subscribers; the stream reads the message itself."""
        event = await self._events.append_txn(
            uow,
            type_,
            conversation_id=message.conversation_id,
            actor_id=actor_id,
            ref=str(message.id),
            data={"change": change} if change else None,
        )
        conversation = await uow.session.get(Conversation, message.conversation_id)
        if conversation is not None:
            conversation.last_event_id = event.id

    async def _usage_txn(
        self,
        uow: UnitOfWork,
        actor: Actor,
        conversation: Conversation,
        recipients: list[str],
        body: str,
        status: str,
    ) -> None:
        uow.session.add(
            MessageUsage(
                org_id=actor.org_id,
                sender_id=actor.user_id,
                conversation_id=conversation.id,
                recipients=len(recipients),
                status=status,
                size_bytes=len(body.encode()),
                created_at=self._clock.now(),
            )
        )

    async def _copy_to_recipients_txn(
        self, uow: UnitOfWork, actor: Actor, recipients: list[str], body: str
    ) -> None:
        """A broadcast reaches each recipient in their direct chat with the sender, where
        replies stay private."""
        blockers = await store.blockers_among(uow.session, actor.user_id, recipients)
        for user_id in recipients:
            if user_id in blockers:
                continue
            direct = await store.direct_between(uow.session, direct_key(actor.user_id, user_id))
            if direct is None:
                direct = await self._conversations._create_txn(
                    uow, actor, "direct", None, [user_id], direct_key(actor.user_id, user_id)
                )
            else:
                await self._conversations._rejoin_txn(uow, direct, actor.user_id)
                await self._conversations._rejoin_txn(uow, direct, user_id)
            await self._write_txn(uow, actor, direct, body, None, None)

    # -- changing -----------------------------------------------------------------------

    async def _own_message_txn(
        self, uow: UnitOfWork, actor: Actor, message_id: int
    ) -> tuple[Message, Member]:
        message = await uow.session.get(Message, message_id)
        if message is None:
            raise not_found("message")
        _conversation, member = await self._conversations.access_txn(
            uow.session, actor, message.conversation_id
        )
        return message, member

    async def edit(self, actor: Actor, message_id: int, body: str) -> dict[str, Any]:
        require_scope(actor, Scope.MESSAGES_WRITE)
        check_body(body)
        async with self._db.transaction() as uow:
            await uow.serialize_writes()
            message, _member = await self._own_message_txn(uow, actor, message_id)
            if message.sender_id != actor.user_id:
                raise AppError(ErrorCode.FORBIDDEN, "You can only edit your own messages.")
            if message.deleted_at is not None:
                raise AppError(ErrorCode.CONFLICT, "This message was deleted.")
            message.body, message.edited_at = body, self._clock.now()
            await search.index_txn(uow.session, message)
            reactions = (await store.reactions_for(uow.session, [message.id])).get(message.id, [])
            await self._announce_txn(uow, "message.updated", message, actor.user_id, "edited")
            wire = message_wire(message, reactions)
            await uow.commit()
        return wire

    async def delete(self, actor: Actor, message_id: int) -> dict[str, Any]:
        """Deleted for everyone: the text is gone from the database and the search index."""
        require_scope(actor, Scope.MESSAGES_WRITE)
        async with self._db.transaction() as uow:
            await uow.serialize_writes()
            message, member = await self._own_message_txn(uow, actor, message_id)
            if message.sender_id != actor.user_id and member.role != "admin":
                raise AppError(ErrorCode.FORBIDDEN, "You can only delete your own messages.")
            if message.deleted_at is None:
                message.body, message.deleted_at = None, self._clock.now()
                await search.index_txn(uow.session, message)
                await self._announce_txn(uow, "message.updated", message, actor.user_id, "deleted")
            wire = message_wire(message, [])
            await uow.commit()
        return wire

    async def react(self, actor: Actor, message_id: int, emoji: str, on: bool) -> dict[str, Any]:
        emoji = emoji.strip()
        if not emoji or len(emoji) > MAX_EMOJI or any(c.isspace() for c in emoji):
            raise invalid("emoji", "Use one emoji or a short reaction name.")
        async with self._db.transaction() as uow:
            await uow.serialize_writes()
            message, _member = await self._own_message_txn(uow, actor, message_id)
            if message.deleted_at is not None:
                raise AppError(ErrorCode.CONFLICT, "This message was deleted.")
            existing = await uow.session.get(Reaction, (message_id, actor.user_id, emoji))
            if on and existing is None:
                uow.session.add(
                    Reaction(
                        message_id=message_id,
                        user_id=actor.user_id,
                        emoji=emoji,
                        created_at=self._clock.now(),
                    )
                )
            elif not on and existing is not None:
                await uow.session.delete(existing)
            await uow.session.flush()
            reactions = (await store.reactions_for(uow.session, [message.id])).get(message.id, [])
            if on != (existing is not None):
                await self._announce_txn(uow, "message.updated", message, actor.user_id, "reaction")
            wire = message_wire(message, reactions)
            await uow.commit()
        return wire

    async def mark_read(self, actor: Actor, conversation_id: str, message_id: int) -> int:
        async with self._db.transaction() as uow:
            await uow.serialize_writes()
            _conversation, member = await self._conversations.access_txn(
                uow.session, actor, conversation_id
            )
            target = await uow.session.get(Message, message_id)
            if target is None or target.conversation_id != conversation_id:
                raise invalid("message_id", "No such message in this conversation.")
            if message_id > member.read_message_id:
                member.read_message_id = message_id
                data = {
                    "user_id": actor.user_id,
                    "conversation_id": conversation_id,
                    "message_id": message_id,
                }
                await self._events.append_txn(
                    uow,
                    "read.updated",
                    conversation_id=conversation_id,
                    actor_id=actor.user_id,
                    data=data,
                )
            read = member.read_message_id
            await uow.commit()
        return read

    # -- reading ------------------------------------------------------------------------

    async def history(
        self, actor: Actor, conversation_id: str, before: int | None, limit: int = PAGE
    ) -> list[dict[str, Any]]:
        """Newest first, ``limit`` at a time; pass the smallest id seen as ``before``."""
        require_scope(actor, Scope.MESSAGES_READ)
        limit = max(1, min(limit, 200))
        async with self._db.transaction() as uow:
            await self._conversations.access_txn(uow.session, actor, conversation_id)
            rows = await store.history(uow.session, conversation_id, before, 0, limit)
            reactions = await store.reactions_for(uow.session, [m.id for m in rows])
            return [message_wire(m, reactions.get(m.id, [])) for m in rows]

    async def search(self, actor: Actor, query: str, limit: int = 20) -> list[dict[str, Any]]:
        query = query.strip()
        if not query or len(query) > 200:
            raise invalid("q", "Search for 1 to 200 characters.")
        async with self._db.transaction() as uow:
            rows = await search.find_txn(uow.session, actor.user_id, query, max(1, min(limit, 50)))
            return [message_wire(m, []) for m in rows]
