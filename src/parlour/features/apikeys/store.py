"""Queries on API keys and their usage counters. Stores never commit."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from parlour.features.accounts.models import User
from parlour.features.apikeys.models import ApiKey, ApiKeyUsage


async def key_and_bot(session: AsyncSession, key_id: str) -> tuple[ApiKey, User] | None:
    """One round trip, as it runs on every request made with a key."""
    row = (
        await session.execute(
            select(ApiKey, User)
            .join(User, User.id == ApiKey.bot_user_id)
            .where(ApiKey.id == key_id)
        )
    ).first()
    return None if row is None else (row[0], row[1])


async def keys_of(session: AsyncSession, org_id: str) -> list[ApiKey]:
    rows = await session.scalars(
        select(ApiKey).where(ApiKey.org_id == org_id).order_by(ApiKey.created_at.desc())
    )
    return list(rows)


async def count_use_txn(
    session: AsyncSession, key_id: str, minute: datetime, *, refused: bool
) -> int:
    """Adds one request to the key's counter for the minute, in one statement; returns the
    new count of that kind, so exactly one caller per minute sees 1."""
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    column = "refused" if refused else "requests"
    statement = insert(ApiKeyUsage).values(
        key_id=key_id, minute=minute, requests=0 if refused else 1, refused=1 if refused else 0
    )
    counter = getattr(ApiKeyUsage, column)
    result = await session.execute(
        statement.on_conflict_do_update(
            index_elements=[ApiKeyUsage.key_id, ApiKeyUsage.minute],
            set_={column: counter + 1},
        ).returning(counter)
    )
    return int(result.scalar_one())


async def usage_of(session: AsyncSession, key_id: str) -> list[ApiKeyUsage]:
    rows = await session.scalars(
        select(ApiKeyUsage).where(ApiKeyUsage.key_id == key_id).order_by(ApiKeyUsage.minute)
    )
    return list(rows)


async def prune_usage_txn(session: AsyncSession, key_id: str, before: datetime) -> None:
    await session.execute(
        delete(ApiKeyUsage).where(ApiKeyUsage.key_id == key_id, ApiKeyUsage.minute < before)
    )


async def touch_txn(session: AsyncSession, key_id: str, now: datetime, stale: datetime) -> None:
    """Sets ``last_used_at`` when it is older than ``stale``: one statement, often no write."""
    await session.execute(
        update(ApiKey)
        .where(
            ApiKey.id == key_id,
            or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at <= stale),
        )
        .values(last_used_at=now)
    )
