"""The event log and the wire form of events.

Events are appended inside the transaction that causes them; after commit a hint on the bus
tells every node to read the log (see pump.py). The log is the only source of live events,
so every client sees them in commit order, which is id order.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from parlour.core.clock import Clock
from parlour.db.uow import UnitOfWork
from parlour.features.chat import store
from parlour.features.chat.markdown import render
from parlour.features.chat.models import Event, Message, Reaction
from parlour.realtime.bus import PubSub

MESSAGE_EVENTS = ("message.created", "message.updated")
MEMBER_EVENTS = ("member.added", "member.removed")
# Called inside the transaction that appends an event, after it has its id (webhooks queue
# their deliveries this way: they exist exactly when the event does).
Subscriber = Callable[[UnitOfWork, Event], Awaitable[None]]
HINTS = "events"  # bus channel: "there are new events in the log"
EPHEMERAL = "ephemeral"  # bus channel: typing and presence, never stored


def conversation_channel(conversation_id: str) -> str:
    return f"c:{conversation_id}"


def user_channel(user_id: str) -> str:
    return f"u:{user_id}"


def device_channel(device_id: str) -> str:
    """One stream connection: where media signalling for the device in a call goes."""
    return f"d:{device_id}"


def message_wire(message: Message, reactions: list[Reaction]) -> dict[str, Any]:
    deleted = message.deleted_at is not None
    summary: dict[str, list[str]] = {}
    for reaction in reactions:
        summary.setdefault(reaction.emoji, []).append(reaction.user_id)
    return {
        "id": message.id,
        "conversation_id": message.conversation_id,
        "sender_id": message.sender_id,
        "body": None if deleted else message.body,
        "html": None if deleted or message.body is None else render(message.body),
        "reply_to": message.reply_to_id,
        "created_at": message.created_at.isoformat(),
        "edited": message.edited_at is not None,
        "deleted": deleted,
        "reactions": [{"emoji": e, "user_ids": u} for e, u in summary.items()],
    }


def event_wire(event: Event, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": event.id,
        "type": event.type,
        "conversation_id": event.conversation_id,
        "at": event.created_at.isoformat(),
        "data": payload,
    }


def channels_of(wire: dict[str, Any], event: Event) -> list[str]:
    """Where an event goes: its conversation, or its one user; membership changes also go to
    the member concerned, so their connections start or stop following the conversation."""
    if event.user_id is not None:
        return [user_channel(event.user_id)]
    channels = [conversation_channel(event.conversation_id or "")]
    if event.type in MEMBER_EVENTS:
        channels.append(user_channel(wire["data"]["user_id"]))
    return channels


class EventLog:
    def __init__(self, bus: PubSub, clock: Clock) -> None:
        self._bus = bus
        self._clock = clock
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    async def append_txn(
        self,
        uow: UnitOfWork,
        type_: str,
        *,
        conversation_id: str | None = None,
        user_id: str | None = None,
        actor_id: str | None = None,
        ref: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> Event:
        event = Event(
            conversation_id=conversation_id,
            user_id=user_id,
            actor_id=actor_id,
            type=type_,
            ref=ref,
            data=json.dumps(data, separators=(",", ":")) if data is not None else None,
            created_at=self._clock.now(),
        )
        uow.session.add(event)
        await uow.session.flush()
        for subscriber in self._subscribers:
            await subscriber(uow, event)
        uow.after_commit(self._hint, once="event-log-hint")
        return event

    async def _hint(self) -> None:
        await self._bus.publish(HINTS, b"")

    async def publish_ephemeral(self, wire: dict[str, Any], conversation_ids: list[str]) -> None:
        """Typing and presence go straight to every node, for these conversations' members:
        nothing is stored."""
        body = {**wire, "to": conversation_ids}
        await self._bus.publish(EPHEMERAL, json.dumps(body, separators=(",", ":")).encode())

    async def publish_to(self, wire: dict[str, Any], channels: list[str]) -> None:
        """An ephemeral frame for these exact channels (a user's devices, one device)."""
        body = {**wire, "ch": channels}
        await self._bus.publish(EPHEMERAL, json.dumps(body, separators=(",", ":")).encode())

    async def hydrate(
        self, session: AsyncSession, events: list[Event]
    ) -> list[tuple[Event, dict[str, Any]]]:
        """Wire events, with messages as they are now: a deleted text is gone from replays.

        Reactions are read only for messages with a ``message.updated`` event here: every
        reaction appends one, after the message's ``message.created``, so a client that
        applies events in order ends with every reaction, and a batch of new messages (the
        pump's usual read) costs no reaction query.
        """
        refs = [int(e.ref) for e in events if e.type in MESSAGE_EVENTS and e.ref]
        messages = await store.messages_by_id(session, refs)
        updated = [int(e.ref) for e in events if e.type == "message.updated" and e.ref]
        reactions = await store.reactions_for(session, updated)
        out: list[tuple[Event, dict[str, Any]]] = []
        for event in events:
            if event.type in MESSAGE_EVENTS:
                message = messages.get(int(event.ref or 0))
                if message is None:
                    continue
                payload = {"message": message_wire(message, reactions.get(message.id, []))}
            else:
                payload = json.loads(event.data) if event.data else {}
            out.append((event, event_wire(event, payload)))
        return out
