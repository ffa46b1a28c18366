"""Reads and increments the page-view counters. Stores never commit."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from parlour.features.analytics.models import PageViewCount


async def increment_txn(session: AsyncSession, day: str, route: str) -> None:
    """Callers serialise writes first, so two requests never insert the same row."""
    row = await session.get(PageViewCount, (day, route))
    if row is None:
        session.add(PageViewCount(day=day, route=route, views=1))
    else:
        row.views += 1


async def counts_on(session: AsyncSession, day: str) -> dict[str, int]:
    rows = await session.scalars(select(PageViewCount).where(PageViewCount.day == day))
    return {row.route: row.views for row in rows}
