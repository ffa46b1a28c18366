"""Queries of calls and their records. Stores never commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from parlour.features.accounts.models import GONE, User
from parlour.features.calls.models import Call, Guest, Participant

# Leg states (see state.LegState) in which someone still rings or talks.
WAITING_LEGS = ("invited", "ringing")
ACTIVE_LEGS = ("accepted", "connected")
LIVE_LEGS = (*WAITING_LEGS, *ACTIVE_LEGS)


async def call_by_id(session: AsyncSession, call_id: str) -> Call | None:
    return await session.get(Call, call_id)


async def participants(session: AsyncSession, call_id: str) -> list[Participant]:
    rows = await session.scalars(
        select(Participant).where(Participant.call_id == call_id).order_by(Participant.id)
    )
    return list(rows)


async def gone_among(session: AsyncSession, user_ids: Sequence[str]) -> frozenset[str]:
    """Which of these people's accounts are closed or erased."""
    if not user_ids:
        return frozenset()
    rows = await session.scalars(
        select(User.id).where(User.id.in_(set(user_ids)), User.status.in_(GONE))
    )
    return frozenset(rows)


async def busy_among(session: AsyncSession, user_ids: Sequence[str]) -> set[str]:
    """Who is already ringing or talking in a call that has not ended."""
    if not user_ids:
        return set()
    rows = await session.scalars(
        select(Participant.user_id)
        .join(Call, Call.id == Participant.call_id)
        .where(
            Participant.user_id.in_(list(user_ids)),
            Participant.state.in_(LIVE_LEGS),
            Call.state != "ended",
        )
    )
    return {r for r in rows if r is not None}


async def live_call_of(session: AsyncSession, user_id: str) -> str | None:
    """A call under way in which the user rings or talks, if any."""
    found: str | None = await session.scalar(
        select(Participant.call_id)
        .join(Call, Call.id == Participant.call_id)
        .where(
            Participant.user_id == user_id,
            Participant.state.in_(LIVE_LEGS),
            Call.state != "ended",
        )
        .limit(1)
    )
    return found


async def touch_legs_txn(session: AsyncSession, device_ids: Sequence[str], now: datetime) -> None:
    """Marks the active legs these stream connections hold as seen now."""
    await session.execute(
        update(Participant)
        .where(Participant.device_id.in_(list(device_ids)), Participant.state.in_(ACTIVE_LEGS))
        .values(last_seen_at=now)
    )


async def stale_legs(
    session: AsyncSession, cutoff: datetime, limit: int = 100
) -> list[Participant]:
    """Active legs of calls under way whose connection was last seen before `cutoff`, the
    longest gone first. A leg never seen (written before liveness existed) counts from when it
    joined."""
    seen = func.coalesce(Participant.last_seen_at, Participant.joined_at, Call.created_at)
    rows = await session.scalars(
        select(Participant)
        .join(Call, Call.id == Participant.call_id)
        .where(Call.state != "ended", Participant.state.in_(ACTIVE_LEGS), seen < cutoff)
        .order_by(seen)
        .limit(limit)
    )
    return list(rows)


async def ringing_due(session: AsyncSession, now: datetime, limit: int = 100) -> list[str]:
    """Calls whose ringing time is over while some leg still rings."""
    rows = await session.scalars(
        select(Call.id)
        .join(Participant, Participant.call_id == Call.id)
        .where(
            Call.state != "ended",
            Call.ring_until <= now,
            Participant.state.in_(WAITING_LEGS),
        )
        .distinct()
        .limit(limit)
    )
    return list(rows)


async def calls_of(
    session: AsyncSession,
    user_id: str,
    conversation_id: str | None,
    before: datetime | None,
    limit: int,
) -> list[Call]:
    query = (
        select(Call)
        .join(Participant, Participant.call_id == Call.id)
        .where(Participant.user_id == user_id)
        .order_by(Call.created_at.desc())
        .limit(limit)
    )
    if conversation_id is not None:
        query = query.where(Call.conversation_id == conversation_id)
    if before is not None:
        query = query.where(Call.created_at < before)
    return list((await session.scalars(query)).unique())


async def guest_by_digest(session: AsyncSession, digest: str) -> Guest | None:
    return await session.scalar(select(Guest).where(Guest.token_digest == digest))
