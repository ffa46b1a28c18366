"""Wire schemas of the chat."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from parlour.features.accounts.schemas import Input

UserId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
# Message ids are 64-bit in the database; a larger number is refused as invalid, not a crash.
MAX_ID = 2**62
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]


class ConversationIn(Input):
    kind: Literal["direct", "group", "broadcast"]
    user_id: UserId | None = Field(default=None, description="The other person (direct only).")
    name: Name | None = Field(default=None, description="Name of a group or broadcast list.")
    member_ids: list[UserId] = Field(default_factory=list, max_length=1000)


class ConversationPatch(Input):
    name: Name


class MembersIn(Input):
    user_ids: list[UserId] = Field(min_length=1, max_length=1000)


class MemberPatch(Input):
    role: Literal["admin", "member"]


class ReactionOut(BaseModel):
    emoji: str
    user_ids: list[str]


class MessageOut(BaseModel):
    id: int
    conversation_id: str
    sender_id: str | None
    body: str | None = Field(description="None once deleted.")
    html: str | None = Field(description="The body rendered from the safe Markdown subset.")
    reply_to: int | None
    created_at: datetime
    edited: bool
    deleted: bool
    reactions: list[ReactionOut]


class MemberOut(BaseModel):
    user_id: str
    role: str
    read_message_id: int


class ConversationOut(BaseModel):
    id: str
    kind: Literal["direct", "group", "broadcast"]
    name: str | None
    created_at: datetime
    role: str
    unread: int
    read_message_id: int
    members: list[MemberOut]
    last_message: MessageOut | None
    last_event_id: int


class MessageIn(Input):
    body: str = Field(min_length=1, description="Text with a small Markdown subset.")
    reply_to: int | None = Field(default=None, ge=1, le=MAX_ID)


class MessagePatch(Input):
    body: str = Field(min_length=1)


class ReadIn(Input):
    message_id: int = Field(ge=1, le=MAX_ID)


class ContactIn(Input):
    nickname: str | None = Field(default=None, max_length=120)


class ContactOut(BaseModel):
    user_id: str
    nickname: str | None
    created_at: datetime


class BlockOut(BaseModel):
    user_id: str
    created_at: datetime


class UsageOut(BaseModel):
    id: int
    sender_id: str | None
    conversation_id: str | None
    recipients: int
    status: str
    size_bytes: int
    created_at: datetime


class PresenceOut(BaseModel):
    online: list[str]
