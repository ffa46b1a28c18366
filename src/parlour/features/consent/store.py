"""Reads and appends on the consent ledger. There is no update and no delete here, by design."""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from parlour.features.consent.models import ConsentEntry


def _of(user_id: str | None, visitor_id: str | None) -> Select[ConsentEntry]:
    query = select(ConsentEntry)
    if user_id is not None:
        return query.where(ConsentEntry.user_id == user_id)
    return query.where(ConsentEntry.visitor_id == visitor_id, ConsentEntry.user_id.is_(None))


async def entries_of(
    session: AsyncSession, user_id: str | None, visitor_id: str | None
) -> list[ConsentEntry]:
    """Every entry of one subject, oldest first."""
    if user_id is None and visitor_id is None:
        return []
    rows = await session.scalars(_of(user_id, visitor_id).order_by(ConsentEntry.id))
    return list(rows)


def append_txn(session: AsyncSession, entries: list[ConsentEntry]) -> None:
    session.add_all(entries)
