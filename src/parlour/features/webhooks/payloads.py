"""Which log events become which webhooks, and what a payload may say under its scopes.

The payload is built from the event log at each attempt, so a message deleted before its
webhook went out is not sent with its text, and nothing of a message is copied into the
webhook tables. Scopes decide the fields (P-API-2):

- ``messages:read``: the text of messages; without it only ids, the sender and times.
- ``members:read``: a member's name and role; without it only their id.
- ``calls:read``: a call's caller, media, outcome, length and size; without it only its ids.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from parlour.features.accounts.display import shown_name
from parlour.features.accounts.models import User
from parlour.features.apikeys import Scope
from parlour.features.chat.models import Event, Message

EVENT_TYPES: dict[str, str] = {
    "message.created": "A message was sent",
    "message.edited": "A message was edited",
    "message.deleted": "A message was deleted",
    "member.joined": "Someone joined a conversation",
    "member.left": "Someone left or was removed from a conversation",
    "call.started": "A call was placed (it starts ringing)",
    "call.ended": "A call ended (with its outcome and length)",
}
# The scopes a subscription may hold: they only ever narrow what its payloads say.
PAYLOAD_SCOPES = (Scope.MESSAGES_READ, Scope.MEMBERS_READ, Scope.CALLS_READ)
_FROM_LOG = {
    "message.created": "message.created",
    "member.added": "member.joined",
    "member.removed": "member.left",
    "call.started": "call.started",
    "call.ended": "call.ended",
}
_MESSAGE_CHANGES = {"edited": "message.edited", "deleted": "message.deleted"}


def webhook_type(event: Event) -> str | None:
    """The webhook an event of the log is, if any (reactions and read marks are none)."""
    if event.type == "message.updated":
        change = json.loads(event.data).get("change") if event.data else None
        return _MESSAGE_CHANGES.get(change or "")
    return _FROM_LOG.get(event.type)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


async def _message(session: AsyncSession, event: Event, scopes: set[str]) -> dict[str, Any]:
    message = await session.get(Message, int(event.ref or 0))
    if message is None:  # gone altogether (its conversation was erased)
        return {
            "message": {
                "id": int(event.ref or 0),
                "conversation_id": event.conversation_id,
                "deleted": True,
            }
        }
    out: dict[str, Any] = {
        "id": message.id,
        "conversation_id": message.conversation_id,
        "sender_id": message.sender_id,
        "reply_to": message.reply_to_id,
        "created_at": _iso(message.created_at),
        "edited_at": _iso(message.edited_at),
        "deleted": message.deleted_at is not None,
    }
    if Scope.MESSAGES_READ in scopes:
        out["body"] = message.body if message.deleted_at is None else None
    return {"message": out}


async def _member(session: AsyncSession, event: Event, scopes: set[str]) -> dict[str, Any]:
    facts = json.loads(event.data) if event.data else {}
    out: dict[str, Any] = {
        "conversation_id": event.conversation_id,
        "user_id": facts.get("user_id"),
    }
    if Scope.MEMBERS_READ in scopes:
        user = await session.get(User, facts.get("user_id") or "")
        out["name"] = shown_name(user) if user is not None else None
        if "role" in facts:
            out["role"] = facts["role"]
    return out


def _call(event: Event, scopes: set[str]) -> dict[str, Any]:
    facts = json.loads(event.data) if event.data else {}
    out: dict[str, Any] = {"call_id": event.ref, "conversation_id": event.conversation_id}
    if Scope.CALLS_READ in scopes:
        details = ("caller_id", "media", "outcome", "duration_seconds", "participants")
        out |= {key: facts[key] for key in details if key in facts}
    return out


async def data_of(
    session: AsyncSession, kind: str, event: Event, scopes: set[str]
) -> dict[str, Any]:
    if kind.startswith("message."):
        return await _message(session, event, scopes)
    if kind.startswith("member."):
        return await _member(session, event, scopes)
    return _call(event, scopes)


def envelope(kind: str, event: Event, org_id: str, data: dict[str, Any]) -> bytes:
    """The JSON body: ``{"id", "type", "created_at", "org_id", "data"}``."""
    body = {
        "id": f"evt_{event.id}",
        "type": kind,
        "created_at": _iso(event.created_at),
        "org_id": org_id,
        "data": data,
    }
    return json.dumps(body, separators=(",", ":")).encode()
