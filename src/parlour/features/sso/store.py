"""Queries on identity providers, domains, linked identities and spent nonces. Never commits."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from parlour.features.sso.models import IdentityProvider, LinkedIdentity, SpentNonce, SsoDomain


async def provider_of(session: AsyncSession, org_id: str) -> IdentityProvider | None:
    return await session.scalar(select(IdentityProvider).where(IdentityProvider.org_id == org_id))


async def domains_of(session: AsyncSession, org_id: str) -> list[str]:
    rows = await session.scalars(
        select(SsoDomain.domain).where(SsoDomain.org_id == org_id).order_by(SsoDomain.domain)
    )
    return list(rows)


async def domain(session: AsyncSession, name: str) -> SsoDomain | None:
    return await session.get(SsoDomain, name)


async def replace_domains_txn(
    session: AsyncSession, org_id: str, domains: list[str], now: datetime
) -> None:
    await session.execute(delete(SsoDomain).where(SsoDomain.org_id == org_id))
    session.add_all(SsoDomain(domain=d, org_id=org_id, created_at=now) for d in domains)
    await session.flush()


async def link_by_digest(session: AsyncSession, digest: str) -> LinkedIdentity | None:
    return await session.scalar(
        select(LinkedIdentity).where(LinkedIdentity.subject_digest == digest)
    )


async def links_of(session: AsyncSession, user_id: str) -> list[LinkedIdentity]:
    rows = await session.scalars(
        select(LinkedIdentity)
        .where(LinkedIdentity.user_id == user_id)
        .order_by(LinkedIdentity.created_at)
    )
    return list(rows)


async def spend_nonce_txn(
    session: AsyncSession, digest: str, now: datetime, before: datetime
) -> bool:
    """True the first time a nonce is spent, False for a replay. Call with writes serialised."""
    await session.execute(delete(SpentNonce).where(SpentNonce.spent_at < before))
    if await session.get(SpentNonce, digest) is not None:
        return False
    session.add(SpentNonce(digest=digest, spent_at=now))
    await session.flush()
    return True
