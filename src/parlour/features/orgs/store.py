"""Queries on organisations, members, invitations and the setup link. Stores never commit."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from parlour.features.accounts.models import GONE, User
from parlour.features.orgs.models import InstanceSetup, Invitation, Organisation


async def all_orgs(session: AsyncSession) -> list[Organisation]:
    return list(await session.scalars(select(Organisation).order_by(Organisation.created_at)))


async def members(session: AsyncSession, org_id: str) -> list[User]:
    """Everyone of the organisation, closed and erased accounts last: clients name the
    senders of old messages from this list, and those show as "Deleted user 7f3a"."""
    rows = await session.scalars(
        select(User)
        .where(User.org_id == org_id)
        .order_by(User.status.in_(sorted(GONE)), User.name, User.id)
    )
    return list(rows)


async def count_owners(session: AsyncSession, org_id: str) -> int:
    return (
        await session.scalar(
            select(func.count())
            .select_from(User)
            .where(User.org_id == org_id, User.role == "owner", User.status == "active")
        )
        or 0
    )


async def invitation_by_digest(session: AsyncSession, digest: str) -> Invitation | None:
    return await session.scalar(select(Invitation).where(Invitation.token_digest == digest))


async def open_invitations(session: AsyncSession, org_id: str, now: datetime) -> list[Invitation]:
    rows = await session.scalars(
        select(Invitation)
        .where(
            Invitation.org_id == org_id,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
            Invitation.expires_at > now,
        )
        .order_by(Invitation.created_at.desc())
    )
    return list(rows)


async def setup_by_digest(session: AsyncSession, digest: str) -> InstanceSetup | None:
    return await session.scalar(select(InstanceSetup).where(InstanceSetup.token_digest == digest))
