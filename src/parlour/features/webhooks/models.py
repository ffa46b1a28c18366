"""Webhook endpoints an organisation subscribes, and the log of what was sent to them.

Nothing here is about a person except who created an endpoint: URLs name systems, secrets are
signing keys (kept encrypted), and the delivery log holds ids, status codes, durations and
error classes, never a body (neither ours nor the receiver's answer).
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from parlour.core.datamap import Erasure, Retention, not_personal, personal, subject_table
from parlour.db.base import Base, id_column

ENDPOINT_LIFE = Retention("the webhook endpoint exists")
# The delivery log is purged 30 days after a delivery was queued (anchor: created_at).
LOG_DAYS = 30

ACTIVE, PAUSED, DISABLED = "active", "paused", "disabled"
PENDING, DELIVERED, FAILED, CANCELLED = "pending", "delivered", "failed", "cancelled"


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"
    __table_args__ = {"info": subject_table("user", "created_by")}

    id: Mapped[str] = id_column()
    org_id: Mapped[str] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"),
        index=True,
        info=not_personal("the organisation that subscribed"),
    )
    url: Mapped[str] = mapped_column(
        String(2000),
        info=not_personal("the address of the organisation's receiving system, not of a person"),
    )
    event_types: Mapped[str] = mapped_column(
        Text, info=not_personal("JSON list of the event types subscribed to")
    )
    scopes: Mapped[str] = mapped_column(
        Text, info=not_personal("JSON list of the scopes that decide the payloads' fields")
    )
    secret: Mapped[str] = mapped_column(
        Text, info=not_personal("the signing secret, encrypted with the instance key")
    )
    previous_secret: Mapped[str | None] = mapped_column(
        Text, info=not_personal("the signing secret before a rotation, encrypted")
    )
    previous_until: Mapped[datetime | None] = mapped_column(
        info=not_personal("when the previous secret stops signing")
    )
    state: Mapped[str] = mapped_column(String(12), info=not_personal("active, paused or disabled"))
    failed_in_a_row: Mapped[int] = mapped_column(
        Integer, info=not_personal("deliveries that gave up since the last success")
    )
    last_delivery_at: Mapped[datetime | None] = mapped_column(
        info=not_personal("when the last delivery attempt ended")
    )
    last_outcome: Mapped[str | None] = mapped_column(
        String(40), info=not_personal("status code or error class of the last attempt")
    )
    created_by: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"),
        info=personal(
            "user.unique_id",
            "organisation_admin",
            retention=ENDPOINT_LIFE,
            erasure=Erasure.NULL,
            exported=False,
            description="the administrator who subscribed the endpoint",
        ),
    )
    created_at: Mapped[datetime] = mapped_column(info=not_personal("when it was subscribed"))

    def types(self) -> list[str]:
        found: list[str] = json.loads(self.event_types)
        return found

    def scope_set(self) -> set[str]:
        return set(json.loads(self.scopes))


class WebhookDelivery(Base):
    """One event for one endpoint; its id is the Parlour-Webhook-Id every attempt repeats."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_endpoint", "endpoint_id", "created_at"),)

    id: Mapped[str] = id_column()
    endpoint_id: Mapped[str] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"),
        info=not_personal("the endpoint it goes to"),
    )
    event_id: Mapped[int] = mapped_column(
        BigInteger,
        info=not_personal(
            "sequence number of the event in the event log; the payload is "
            "built from the log at each attempt, so no content is copied here"
        ),
    )
    event_type: Mapped[str] = mapped_column(String(40), info=not_personal("the webhook type"))
    state: Mapped[str] = mapped_column(
        String(12), info=not_personal("pending, delivered, failed or cancelled")
    )
    attempts: Mapped[int] = mapped_column(Integer, info=not_personal("attempts made so far"))
    next_attempt_at: Mapped[datetime | None] = mapped_column(
        info=not_personal("when the next attempt is due")
    )
    created_at: Mapped[datetime] = mapped_column(
        index=True, info=not_personal(f"when it was queued; purged {LOG_DAYS} days later")
    )
    finished_at: Mapped[datetime | None] = mapped_column(
        info=not_personal("when it was delivered or given up")
    )


class WebhookAttempt(Base):
    """One POST: what came back, never the body of the answer."""

    __tablename__ = "webhook_attempts"

    id: Mapped[str] = id_column()
    delivery_id: Mapped[str] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"),
        index=True,
        info=not_personal("the delivery it tried"),
    )
    attempt: Mapped[int] = mapped_column(Integer, info=not_personal("1 for the first try"))
    at: Mapped[datetime] = mapped_column(info=not_personal("when it started"))
    status_code: Mapped[int | None] = mapped_column(
        Integer, info=not_personal("the HTTP status the receiver answered, if it answered")
    )
    duration_ms: Mapped[int] = mapped_column(Integer, info=not_personal("how long it took"))
    error: Mapped[str | None] = mapped_column(
        String(80), info=not_personal("the error class (a timeout, a refused address), no text")
    )
