"""A call as stored, as the state machine sees it and as participants see it: the pieces the
service, the liveness sweep, the routes and the stream gateway share. No I/O here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from parlour.features.accounts.actor import Actor
from parlour.features.accounts.display import deleted_label
from parlour.features.calls import state as machine
from parlour.features.calls.models import Call, Participant


@dataclass(frozen=True)
class Endpoint:
    """What a client says about itself, kept in the call detail record (P-CALL-2)."""

    ip_address: str | None = None
    endpoint_type: str | None = "web"
    endpoint_version: str | None = None
    device: str | None = None
    os: str | None = None
    browser: str | None = None
    language: str | None = None


@dataclass(frozen=True)
class QualityReport:
    packet_loss_pct: float | None
    jitter_ms: float | None
    round_trip_ms: float | None
    bitrate_kbps: float | None
    frames_decoded: int | None


@dataclass(frozen=True)
class CallView:
    call: Call
    participants: list[Participant]
    # Participants whose account is closed or erased: shown by the one deleted-user label.
    gone: frozenset[str] = frozenset()


@dataclass(frozen=True)
class GuestPass:
    """A guest who joined by link: bound to one call, known by a display name only."""

    guest_id: str
    call_id: str
    org_id: str


@dataclass(frozen=True)
class Party:
    """Who takes a step in a call: a member or a guest, under one participant key."""

    key: str
    org_id: str
    actor: Actor | None = None
    guest: GuestPass | None = None


def as_party(who: Actor | GuestPass) -> Party:
    if isinstance(who, GuestPass):
        return Party(guest_key(who.guest_id), who.org_id, guest=who)
    return Party(who.user_id, who.org_id, actor=who)


def guest_key(guest_id: str) -> str:
    return f"guest:{guest_id}"


def participant_key(part: Participant) -> str:
    return part.user_id or guest_key(part.guest_id or "")


def apply_endpoint(part: Participant, endpoint: Endpoint) -> None:
    part.ip_address = endpoint.ip_address
    part.endpoint_type = endpoint.endpoint_type
    part.endpoint_version = endpoint.endpoint_version
    part.device = endpoint.device
    part.os = endpoint.os
    part.browser = endpoint.browser
    part.language = endpoint.language


def to_machine(row: Call, parts: list[Participant]) -> machine.Call:
    legs = tuple(
        machine.Leg(
            participant=participant_key(p),
            state=machine.LegState(p.state),
            device=p.device_id if p.state in HOLDING_LEGS else None,
            joined_at=p.joined_at,
            left_at=p.left_at,
            disconnect=machine.Disconnect(p.disconnect) if p.disconnect else None,
        )
        for p in parts
    )
    return machine.Call(
        id=row.id,
        caller=row.caller_id or "",
        media="video" if row.media == "video" else "audio",
        state=machine.CallState(row.state),
        legs=legs,
        created_at=row.created_at,
        answered_at=row.answered_at,
        connected_at=row.connected_at,
        ended_at=row.ended_at,
        outcome=machine.Outcome(row.outcome) if row.outcome else None,
    )


ACTIVE_LEGS = frozenset({machine.LegState.ACCEPTED.value, machine.LegState.CONNECTED.value})
HOLDING_LEGS = frozenset(
    {machine.LegState.ACCEPTED.value, machine.LegState.CONNECTED.value, machine.LegState.LEFT.value}
)


def call_summary(row: Call) -> dict[str, Any]:
    return {
        "call_id": row.id,
        "caller_id": row.caller_id,
        "media": row.media,
        "outcome": row.outcome,
        "duration_seconds": round(row.duration_seconds, 1),
        "participants": row.participants,
    }


def call_wire(
    row: Call, parts: list[Participant], gone: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """What participants see of a call: never addresses or device facts of the others, and
    only the deleted-user label of someone whose account is closed or erased."""
    return {
        "id": row.id,
        "conversation_id": row.conversation_id,
        "caller_id": row.caller_id,
        "media": row.media,
        "mode": row.mode,
        "state": row.state,
        "outcome": row.outcome,
        "created_at": row.created_at.isoformat(),
        "connected_at": row.connected_at.isoformat() if row.connected_at else None,
        "ended_at": row.ended_at.isoformat() if row.ended_at else None,
        "duration_seconds": round(row.duration_seconds, 1),
        "participants": [
            {
                "user_id": p.user_id,
                "key": participant_key(p),
                "display_name": (deleted_label(p.user_id) if p.user_id in gone else p.display_name),
                "role": p.role,
                "state": p.state,
            }
            for p in parts
        ],
    }
