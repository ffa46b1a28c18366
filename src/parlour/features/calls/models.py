"""Calls, their participants (the call detail record) and the quality each one reported."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from parlour.core.datamap import Erasure, Retention, not_personal, personal, subject_table
from parlour.db.base import Base, id_column

SeqId = BigInteger().with_variant(Integer(), "sqlite")

CALL_RECORD = Retention("the call ended", days=400, column="ended_at")
# A call's legs, quality reports and guest passes are timed by the call they belong to.
CALL_LEG = Retention("the call ended", days=400, column="call_id.ended_at")
QUALITY = Retention("the call ended", days=90, column="call_id.ended_at")
GUEST = Retention("the call ended", days=400, column="call_id.ended_at")  # goes with the call
RECORD_PURPOSES = ("provide_service", "organisation_admin")


def _record(
    category: str,
    description: str = "",
    erasure: Erasure = Erasure.DELETE,
    retention: Retention = CALL_RECORD,
) -> dict[str, Any]:
    return personal(
        category, *RECORD_PURPOSES, retention=retention, erasure=erasure, description=description
    )


def _leg(category: str, description: str = "", erasure: Erasure = Erasure.DELETE) -> dict[str, Any]:
    return _record(category, description, erasure, CALL_LEG)


class Call(Base):
    """One call: its state machine's current state and the call-level part of the record."""

    __tablename__ = "calls"
    __table_args__ = (
        Index("ix_calls_org_created", "org_id", "created_at"),
        {"info": subject_table("user", "caller_id")},
    )

    id: Mapped[str] = id_column()
    org_id: Mapped[str] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), info=not_personal("the organisation")
    )
    conversation_id: Mapped[str | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="SET NULL"),
        index=True,
        info=not_personal("the conversation the call was started from"),
    )
    caller_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"),
        info=_record("user.unique_id", "who started the call", Erasure.PSEUDONYMISE),
    )
    media: Mapped[str] = mapped_column(String(8), info=not_personal("audio or video"))
    state: Mapped[str] = mapped_column(
        String(12), info=not_personal("ringing, accepted, connected or ended")
    )
    outcome: Mapped[str | None] = mapped_column(
        String(12), info=_record("user.communications.call_record", "how the call ended")
    )
    created_at: Mapped[datetime] = mapped_column(
        info=_record("user.communications.call_record", "start")
    )
    ring_until: Mapped[datetime] = mapped_column(
        info=not_personal("when unanswered devices stop ringing")
    )
    answered_at: Mapped[datetime | None] = mapped_column(
        info=_record("user.communications.call_record", "when someone answered")
    )
    connected_at: Mapped[datetime | None] = mapped_column(
        info=_record("user.communications.call_record", "when media first flowed")
    )
    ended_at: Mapped[datetime | None] = mapped_column(
        index=True, info=_record("user.communications.call_record", "end")
    )
    duration_seconds: Mapped[float] = mapped_column(
        Float, default=0.0, info=_record("user.communications.call_record", "talk time")
    )
    participants: Mapped[int] = mapped_column(
        Integer, default=0, info=not_personal("how many took part")
    )
    guests: Mapped[int] = mapped_column(
        Integer, default=0, info=not_personal("how many of them were guests")
    )
    mode: Mapped[str] = mapped_column(
        String(8), default="mesh", info=not_personal("mesh (browser to browser) or sfu")
    )
    sfu_room: Mapped[int | None] = mapped_column(
        BigInteger, info=not_personal("the SFU room carrying the call's media")
    )
    version: Mapped[int] = mapped_column(
        Integer, default=0, info=not_personal("bumped on every change, so writers never race")
    )


class Participant(Base):
    """One leg of a call, with what the promise lists for each participant's record."""

    __tablename__ = "call_participants"
    __table_args__ = (
        Index("ix_call_participants_user", "user_id", "call_id"),
        {"info": subject_table("user", "user_id")},
    )

    id: Mapped[int] = mapped_column(
        SeqId, primary_key=True, autoincrement=True, info=not_personal("sequence number")
    )
    call_id: Mapped[str] = mapped_column(
        ForeignKey("calls.id", ondelete="CASCADE"), index=True, info=not_personal("the call")
    )
    user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"),
        info=_leg("user.unique_id", "the member (empty for a guest)", Erasure.PSEUDONYMISE),
    )
    guest_id: Mapped[str | None] = mapped_column(
        ForeignKey("call_guests.id", ondelete="SET NULL"),
        info=not_personal("the guest pass used, if any"),
    )
    role: Mapped[str] = mapped_column(String(8), info=not_personal("caller, callee or guest"))
    user_name: Mapped[str | None] = mapped_column(
        String(320),
        info=_leg("user.contact.email", "the member's user name (email) at the time"),
    )
    display_name: Mapped[str] = mapped_column(
        String(120), info=_leg("user.name", "the name shown in the call", Erasure.PSEUDONYMISE)
    )
    state: Mapped[str] = mapped_column(String(12), info=not_personal("the leg's state"))
    device_id: Mapped[str | None] = mapped_column(
        String(40), info=_leg("user.device.device_id", "the connection that answered")
    )
    joined_at: Mapped[datetime | None] = mapped_column(
        info=_leg("user.communications.call_record", "when they joined")
    )
    left_at: Mapped[datetime | None] = mapped_column(
        info=_leg("user.communications.call_record", "when they left")
    )
    disconnect: Mapped[str | None] = mapped_column(
        String(12), info=_leg("user.communications.call_record", "how they disconnected")
    )
    last_seen_at: Mapped[datetime | None] = mapped_column(
        info=_leg(
            "user.communications.call_record",
            "when their connection was last known to be there (a leg gone too long is left)",
        )
    )
    ip_address: Mapped[str | None] = mapped_column(
        String(45), info=_leg("user.device.ip_address", "address the client called from")
    )
    phone_number: Mapped[str | None] = mapped_column(
        String(40), info=_leg("user.contact.phone_number", "number dialled in from")
    )
    endpoint_type: Mapped[str | None] = mapped_column(
        String(20), info=_leg("user.device", "web, app or phone")
    )
    endpoint_version: Mapped[str | None] = mapped_column(
        String(40), info=_leg("user.device", "version of the client")
    )
    device: Mapped[str | None] = mapped_column(
        String(60), info=_leg("user.device", "kind of device")
    )
    os: Mapped[str | None] = mapped_column(String(60), info=_leg("user.device", "operating system"))
    browser: Mapped[str | None] = mapped_column(
        String(60), info=_leg("user.device", "browser and version")
    )
    language: Mapped[str | None] = mapped_column(
        String(35), info=_leg("user.device", "the client's language")
    )


class Quality(Base):
    """What a participant's client measured, under a pseudonym: no user id is kept here."""

    __tablename__ = "call_quality"
    __table_args__ = ({"info": subject_table("pseudonym", "pseudonym")},)

    id: Mapped[int] = mapped_column(
        SeqId, primary_key=True, autoincrement=True, info=not_personal("sequence number")
    )
    call_id: Mapped[str] = mapped_column(
        ForeignKey("calls.id", ondelete="CASCADE"), index=True, info=not_personal("the call")
    )
    pseudonym: Mapped[str] = mapped_column(
        String(24),
        info=personal(
            "user.unique_id.pseudonymous",
            "service_quality",
            retention=QUALITY,
            subject="pseudonym",
            description="a keyed hash of call and participant, never the user id",
            exported=False,
        ),
    )
    reported_at: Mapped[datetime] = mapped_column(info=not_personal("when it was reported"))
    packet_loss_pct: Mapped[float | None] = mapped_column(
        Float, info=not_personal("measurement of the network, tied to no one")
    )
    jitter_ms: Mapped[float | None] = mapped_column(Float, info=not_personal("measurement"))
    round_trip_ms: Mapped[float | None] = mapped_column(Float, info=not_personal("measurement"))
    bitrate_kbps: Mapped[float | None] = mapped_column(Float, info=not_personal("measurement"))
    frames_decoded: Mapped[int | None] = mapped_column(Integer, info=not_personal("measurement"))


class Guest(Base):
    """A guest pass: a join link for one call, used with a display name only."""

    __tablename__ = "call_guests"
    __table_args__ = ({"info": subject_table("guest", "id")},)

    id: Mapped[str] = id_column()
    call_id: Mapped[str] = mapped_column(
        ForeignKey("calls.id", ondelete="CASCADE"), index=True, info=not_personal("the call")
    )
    token_digest: Mapped[str] = mapped_column(
        String(64), unique=True, info=not_personal("keyed hash of the link's secret")
    )
    created_by: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"),
        info=_record("user.unique_id", "who made the link", Erasure.NULL, GUEST),
    )
    display_name: Mapped[str | None] = mapped_column(
        String(120),
        info=personal(
            "user.name",
            "provide_service",
            retention=GUEST,
            subject="guest",
            description="the only thing a guest gives",
        ),
    )
    created_at: Mapped[datetime] = mapped_column(info=not_personal("when the link was made"))
    expires_at: Mapped[datetime] = mapped_column(info=not_personal("when the link stops working"))
