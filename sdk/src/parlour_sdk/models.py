"""What the API answers, as frozen dataclasses.

Each field is a member the SDK reads from the JSON; the contract test checks every one against
the server's OpenAPI document. Members the server adds later are ignored, so an older SDK keeps
working against a newer server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from parlour_sdk._decode import decode


@dataclass(frozen=True)
class User:
    """A person in an organisation. A closed or erased account has status "deleted"."""

    id: str
    org_id: str
    name: str
    email: str | None
    role: str
    status: str
    phone: str | None
    title: str | None
    department: str | None
    location: str | None
    created_at: datetime | None


@dataclass(frozen=True)
class Reaction:
    emoji: str
    user_ids: list[str]


@dataclass(frozen=True)
class Message:
    id: int
    conversation_id: str
    sender_id: str | None
    body: str | None  # None once deleted
    html: str | None
    reply_to: int | None
    created_at: datetime
    edited: bool
    deleted: bool
    reactions: list[Reaction]


@dataclass(frozen=True)
class Member:
    user_id: str
    role: str
    read_message_id: int


@dataclass(frozen=True)
class Conversation:
    id: str
    kind: str  # "direct", "group" or "broadcast"
    name: str | None
    created_at: datetime
    role: str
    unread: int
    members: list[Member]
    last_message: Message | None
    last_event_id: int


@dataclass(frozen=True)
class Participant:
    user_id: str | None
    display_name: str
    role: str
    state: str


@dataclass(frozen=True)
class Call:
    """A call detail record."""

    id: str
    conversation_id: str | None
    caller_id: str | None
    media: str
    state: str
    outcome: str | None
    created_at: datetime
    connected_at: datetime | None
    ended_at: datetime | None
    duration_seconds: float
    participants: list[Participant]


@dataclass(frozen=True)
class Event:
    """One frame of the event stream.

    Events from the event log (`message.created`, `member.added`, …) have an increasing `id`
    and are delivered exactly once, across reconnections. Ephemeral frames (typing, presence,
    call notices) have no id and are only delivered when the stream was asked for them.
    """

    type: str
    id: int | None = None
    conversation_id: str | None = None
    at: datetime | None = None
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def message(self) -> Message | None:
        """The message a `message.*` event is about, decoded."""
        raw = self.data.get("message")
        if not isinstance(raw, dict):
            return None
        return decode(Message, raw)
