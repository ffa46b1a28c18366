"""One client's stream: replay what it missed from the event log, then live events.

Order of work on open: subscribe to this node's event pump first, then read the log. The pump
hands on events in id order, so anything committed after the read arrives live, and ids at or
below the last one sent are dropped: no gaps, no duplicates.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from parlour.core import validation
from parlour.core.errors import AppError, ErrorCode
from parlour.core.ids import new_id
from parlour.db.uow import Database
from parlour.features.accounts import store as accounts_store
from parlour.features.accounts.actor import Actor
from parlour.features.apikeys import Scope, require_scope
from parlour.features.chat import store
from parlour.features.chat.events import EventLog, conversation_channel, device_channel
from parlour.features.chat.pump import EventPump
from parlour.features.chat.service import ConversationService
from parlour.realtime.bus import Subscription
from parlour.realtime.presence import Presence

REPLAY_PAGE = 500
MAX_FRAME = 16 * 1024


class ClientFrame(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str = Field(pattern=r"^(typing|presence|ping)$")
    conversation_id: str | None = Field(default=None, max_length=64)
    state: str | None = Field(default=None, pattern=r"^(active|idle)$")


@dataclass
class StreamSession:
    actor: Actor
    subscription: Subscription
    last_id: int
    device_id: str = field(default_factory=new_id)
    conversations: set[str] = field(default_factory=set)
    # Conversations the user was removed from while connected: events of theirs that were
    # already queued (published before this connection stopped listening) are not sent.
    left: set[str] = field(default_factory=set)
    # Frames read back from the log after the user was added to a conversation, sent before
    # anything else: what was posted there before this connection started listening.
    pending: deque[tuple[str, dict[str, Any]]] = field(default_factory=deque)

    def accepts(self, wire: dict[str, Any]) -> bool:
        """Drops events already sent, events of conversations the user has left, echoes of the
        user's own typing, and call notices meant for the user's other devices."""
        event_id = wire.get("id")
        if event_id is not None:
            rejoined = wire.get("type") == "member.added" and self._about_me(wire)
            if wire.get("conversation_id") in self.left and not rejoined:
                return False
            return bool(event_id > self.last_id)
        if wire.get("except_device") == self.device_id:
            return False
        sender: str | None = wire.get("data", {}).get("user_id")
        return sender != self.actor.user_id

    def _about_me(self, wire: dict[str, Any]) -> bool:
        return bool(wire.get("data", {}).get("user_id") == self.actor.user_id)


def error_frame(code: ErrorCode, detail: str) -> dict[str, Any]:
    return {"type": "error", "code": code.value, "detail": detail}


class StreamService:
    def __init__(
        self,
        db: Database,
        pump: EventPump,
        events: EventLog,
        conversations: ConversationService,
        presence: Presence,
        queue_size: int,
    ) -> None:
        self._db = db
        self._pump = pump
        self._events = events
        self._conversations = conversations
        self._presence = presence
        self._queue = queue_size

    async def open(self, actor: Actor, since: int | None) -> StreamSession:
        require_scope(actor, Scope.MESSAGES_READ)
        # The newest id before the memberships: an addition at or below it is in the channels
        # read next; one above it reaches this connection by the replay or live.
        async with self._db.transaction() as uow:
            newest = await store.max_event_id(uow.session)
        channels = await self._conversations.channels_for(actor.user_id)
        subscription = await self._pump.subscribe(*channels, maxsize=self._queue)
        start = newest if since is None else max(0, min(since, newest))
        session = StreamSession(actor, subscription, start)
        await subscription.listen(device_channel(session.device_id))
        session.conversations = {c[2:] for c in channels if c.startswith("c:")}
        if await self._presence.connected(actor.user_id):
            await self._announce_presence(session, "online")
        return session

    async def replay(self, session: StreamSession) -> AsyncIterator[list[dict[str, Any]]]:
        """Pages of what the client missed, oldest first."""
        while True:
            async with self._db.transaction() as uow:
                rows = await store.visible_events(
                    uow.session, session.actor.user_id, session.last_id, REPLAY_PAGE
                )
                page = await self._events.hydrate(uow.session, rows)
            if not rows:
                return
            session.last_id = rows[-1].id
            for _event, wire in page:  # joined or left while away: listen accordingly
                await self._track_membership(session, wire)
            if page:
                yield [wire for _event, wire in page]
            if len(rows) < REPLAY_PAGE:
                return

    async def next_live(self, session: StreamSession) -> tuple[str, dict[str, Any]] | None:
        """The next frame to send (encoded once per node, and parsed), or None for one to
        skip. Raises Overflow when the client fell too far behind."""
        if session.pending:
            return session.pending.popleft()
        message = await session.subscription.get()
        wire: dict[str, Any] = message.decoded
        if not session.accepts(wire):
            return None
        if wire.get("id") is not None:
            session.last_id = wire["id"]
        await self._follow_membership(session, wire)
        return message.data.decode(), wire

    async def _follow_membership(self, session: StreamSession, wire: dict[str, Any]) -> None:
        if wire.get("type") not in ("member.added", "member.removed"):
            return
        data = wire.get("data", {})
        conversation_id = data["conversation_id"]
        if data.get("user_id") != session.actor.user_id:
            if wire["type"] == "member.added":
                await self._tell_presence(session, [data["user_id"]])
            return
        if await self._track_membership(session, wire):
            await self._catch_up(session)
            await self._tell_presence(session, await self._others_in(session, conversation_id))

    async def _track_membership(self, session: StreamSession, wire: dict[str, Any]) -> bool:
        """Listens to a conversation this user joined, or stops for one they left; True for a
        join not already followed."""
        if wire.get("type") not in ("member.added", "member.removed"):
            return False
        data = wire.get("data", {})
        if data.get("user_id") != session.actor.user_id:
            return False
        conversation_id = data["conversation_id"]
        if wire["type"] == "member.removed":
            session.conversations.discard(conversation_id)
            session.left.add(conversation_id)
            await session.subscription.unlisten(conversation_channel(conversation_id))
            return False
        joined = conversation_id not in session.conversations
        session.conversations.add(conversation_id)
        session.left.discard(conversation_id)
        if joined:
            await session.subscription.listen(conversation_channel(conversation_id))
        return True

    async def _others_in(self, session: StreamSession, conversation_id: str) -> list[str]:
        async with self._db.transaction() as uow:
            members = await store.current_members(uow.session, conversation_id)
        return [m.user_id for m in members if m.user_id != session.actor.user_id]

    async def _tell_presence(self, session: StreamSession, user_ids: list[str]) -> None:
        """Someone now shares a conversation with this client: who of them is online now
        (on any process), since their 'online' was announced before it could hear it."""
        for user_id in sorted(await self._presence.online(user_ids)):
            wire = {"type": "presence", "data": {"user_id": user_id, "state": "online"}}
            session.pending.append((json.dumps(wire, separators=(",", ":")), wire))

    async def _catch_up(self, session: StreamSession) -> None:
        """Reads the log after the last id sent, now that the new conversation is visible:
        its events published before we listened are not lost, and anything queued meanwhile
        with an id already read is dropped as sent."""
        async for page in self.replay(session):
            session.pending.extend((json.dumps(w, separators=(",", ":")), w) for w in page)

    async def handle(self, session: StreamSession, raw: str) -> dict[str, Any] | None:
        """A frame from the client: typing, presence or ping. Bad frames get an error frame."""
        if len(raw) > MAX_FRAME:
            return error_frame(
                ErrorCode.PAYLOAD_TOO_LARGE, f"Frames are at most {MAX_FRAME} bytes."
            )
        try:
            frame = ClientFrame.model_validate_json(raw)
        except ValidationError as exc:
            return error_frame(*validation.frame_problem(exc.errors()))
        if frame.type == "ping":
            return {"type": "pong", "last_event_id": session.last_id}
        if frame.type == "typing":
            return await self._typing(session, frame.conversation_id)
        await self._announce_presence(session, "online" if frame.state == "active" else "idle")
        return None

    async def _typing(
        self, session: StreamSession, conversation_id: str | None
    ) -> dict[str, Any] | None:
        if conversation_id is None or conversation_id not in session.conversations:
            return error_frame(ErrorCode.NOT_FOUND, "No such conversation.")
        wire = {
            "type": "typing",
            "conversation_id": conversation_id,
            "data": {"user_id": session.actor.user_id},
        }
        await self._events.publish_ephemeral(wire, [conversation_id])
        return None

    async def _announce_presence(self, session: StreamSession, state: str) -> None:
        wire = {"type": "presence", "data": {"user_id": session.actor.user_id, "state": state}}
        await self._events.publish_ephemeral(wire, sorted(session.conversations))

    async def close(self, session: StreamSession) -> None:
        await session.subscription.close()
        if await self._presence.disconnected(session.actor.user_id):
            await self._announce_presence(session, "offline")

    async def online(self, actor: Actor, user_ids: list[str]) -> set[str]:
        if len(user_ids) > 500:
            raise AppError(ErrorCode.VALIDATION_FAILED, "Ask about at most 500 people at once.")
        async with self._db.transaction() as uow:
            colleagues = await accounts_store.ids_in_org(uow.session, user_ids, actor.org_id)
        return await self._presence.online(colleagues)

    async def heartbeat(self) -> None:
        await self._presence.refresh()
