"""Wire schemas of webhook subscriptions and their delivery log."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from parlour.features.accounts.schemas import Input

EventType = Literal[
    "message.created",
    "message.edited",
    "message.deleted",
    "member.joined",
    "member.left",
    "call.started",
    "call.ended",
]
PayloadScope = Literal["messages:read", "members:read", "calls:read"]


class WebhookIn(Input):
    url: str = Field(min_length=8, max_length=2000, description="An https:// address.")
    event_types: list[EventType] = Field(min_length=1, max_length=20)
    scopes: list[PayloadScope] = Field(
        default_factory=list,
        max_length=10,
        description="What payloads may say: message text, member details, call details.",
    )


class WebhookPatch(Input):
    state: Literal["active", "paused"] = Field(
        description="paused stops deliveries (pending ones are dropped); active resumes, "
        "a disabled endpoint too."
    )


class WebhookOut(BaseModel):
    id: str
    url: str
    event_types: list[str]
    scopes: list[str]
    state: Literal["active", "paused", "disabled"]
    created_at: datetime
    last_delivery_at: datetime | None
    last_outcome: str | None = Field(description="HTTP status or error class of the last try.")
    failed_in_a_row: int = Field(description="Deliveries that gave up since the last success.")
    previous_secret_until: datetime | None = Field(
        description="While set and in the future, the previous secret also signs."
    )


class WebhookCreated(WebhookOut):
    secret: str = Field(description="The signing secret (whsec_…), shown only this once.")


class AttemptOut(BaseModel):
    attempt: int
    at: datetime
    status_code: int | None
    duration_ms: int
    error: str | None = Field(description="Error class: timeout, connect_error, …, never text.")


class DeliveryOut(BaseModel):
    id: str = Field(description="The Parlour-Webhook-Id header of every attempt.")
    event_type: str
    event_id: str
    state: Literal["pending", "delivered", "failed", "cancelled"]
    attempts: list[AttemptOut]
    next_attempt_at: datetime | None
    created_at: datetime
    finished_at: datetime | None
