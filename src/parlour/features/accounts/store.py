"""Queries on users, sessions, resets and throttle buckets. Stores never commit."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from parlour.features.accounts.models import (
    AuthSession,
    PasswordReset,
    PolicyAcceptance,
    SigninFailure,
    User,
)
from parlour.features.orgs.models import Organisation


async def user_by_id(session: AsyncSession, user_id: str) -> User | None:
    return await session.get(User, user_id)


async def user_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == email.lower()))


async def count_instance_owners(session: AsyncSession) -> int:
    return (
        await session.scalar(
            select(func.count()).select_from(User).where(User.is_instance_owner.is_(True))
        )
        or 0
    )


async def session_by_digest(session: AsyncSession, digest: str) -> AuthSession | None:
    return await session.scalar(select(AuthSession).where(AuthSession.secret_digest == digest))


async def session_and_user(
    session: AsyncSession, digest: str
) -> tuple[AuthSession, User, bool] | None:
    """One round trip, as it runs on every authenticated request; the flag says whether the
    user's organisation requires a second factor."""
    row = (
        await session.execute(
            select(AuthSession, User, Organisation.require_second_factor)
            .join(User, User.id == AuthSession.user_id)
            .join(Organisation, Organisation.id == User.org_id)
            .where(AuthSession.secret_digest == digest)
        )
    ).first()
    return None if row is None else (row[0], row[1], bool(row[2]))


async def sessions_of(session: AsyncSession, user_id: str, now: datetime) -> list[AuthSession]:
    rows = await session.scalars(
        select(AuthSession)
        .where(AuthSession.user_id == user_id, AuthSession.expires_at > now)
        .order_by(AuthSession.last_seen_at.desc())
    )
    return list(rows)


async def delete_sessions_txn(
    session: AsyncSession, user_id: str, *, keep: str | None = None, kind: str | None = None
) -> None:
    query = delete(AuthSession).where(AuthSession.user_id == user_id)
    if keep is not None:
        query = query.where(AuthSession.id != keep)
    if kind is not None:
        query = query.where(AuthSession.kind == kind)
    await session.execute(query)


async def charge_reauth_txn(session: AsyncSession, session_id: str) -> int | None:
    """Counts one more password confirmation against the session before it is checked, so
    parallel tries cannot outrun the budget; the new count, or None when the session is gone."""
    count = await session.execute(
        update(AuthSession)
        .where(AuthSession.id == session_id)
        .values(reauth_failures=AuthSession.reauth_failures + 1)
        .returning(AuthSession.reauth_failures)
    )
    return count.scalar_one_or_none()


async def clear_reauth_txn(session: AsyncSession, session_id: str) -> None:
    await session.execute(
        update(AuthSession).where(AuthSession.id == session_id).values(reauth_failures=0)
    )


async def reset_by_digest(session: AsyncSession, digest: str) -> PasswordReset | None:
    return await session.scalar(select(PasswordReset).where(PasswordReset.token_digest == digest))


async def void_resets_txn(session: AsyncSession, user_id: str, now: datetime) -> None:
    await session.execute(
        update(PasswordReset)
        .where(PasswordReset.user_id == user_id, PasswordReset.used_at.is_(None))
        .values(used_at=now)
    )


async def failures(session: AsyncSession, bucket: str) -> SigninFailure | None:
    return await session.get(SigninFailure, bucket)


async def count_failure_txn(
    session: AsyncSession, bucket: str, now: datetime, stale_before: datetime
) -> None:
    """One more failure in the bucket's window, or the first of a new one, in one statement."""
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(SigninFailure).values(bucket=bucket, failures=1, window_start=now)
    stale = SigninFailure.window_start <= stale_before
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[SigninFailure.bucket],
            set_={
                "failures": case((stale, 1), else_=SigninFailure.failures + 1),
                "window_start": case(
                    (stale, statement.excluded.window_start), else_=SigninFailure.window_start
                ),
            },
        )
    )


async def clear_failures_txn(session: AsyncSession, bucket: str) -> None:
    await session.execute(delete(SigninFailure).where(SigninFailure.bucket == bucket))


async def acceptances_of(session: AsyncSession, user_id: str) -> list[PolicyAcceptance]:
    rows = await session.scalars(
        select(PolicyAcceptance)
        .where(PolicyAcceptance.user_id == user_id)
        .order_by(PolicyAcceptance.accepted_at)
    )
    return list(rows)


async def recent_resets(session: AsyncSession, user_id: str, since: datetime) -> int:
    return (
        await session.scalar(
            select(func.count())
            .select_from(PasswordReset)
            .where(PasswordReset.user_id == user_id, PasswordReset.created_at > since)
        )
        or 0
    )


async def ids_in_org(session: AsyncSession, user_ids: list[str], org_id: str) -> list[str]:
    if not user_ids:
        return []
    rows = await session.scalars(
        select(User.id).where(User.id.in_(user_ids), User.org_id == org_id)
    )
    return list(rows)
