"""Queries on second factors. Stores never commit."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from parlour.features.mfa.models import Passkey, RecoveryCode, TotpSecret, WebauthnChallenge


async def totp_of(session: AsyncSession, user_id: str) -> TotpSecret | None:
    return await session.scalar(select(TotpSecret).where(TotpSecret.user_id == user_id))


async def passkeys_of(session: AsyncSession, user_id: str) -> list[Passkey]:
    rows = await session.scalars(
        select(Passkey).where(Passkey.user_id == user_id).order_by(Passkey.created_at)
    )
    return list(rows)


async def passkey_by_credential(session: AsyncSession, credential_id: str) -> Passkey | None:
    return await session.scalar(select(Passkey).where(Passkey.credential_id == credential_id))


async def unused_recovery(session: AsyncSession, user_id: str, digest: str) -> RecoveryCode | None:
    return await session.scalar(
        select(RecoveryCode).where(
            RecoveryCode.user_id == user_id,
            RecoveryCode.code_digest == digest,
            RecoveryCode.used_at.is_(None),
        )
    )


async def recovery_left(session: AsyncSession, user_id: str) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(RecoveryCode)
        .where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
    )
    return count or 0


async def delete_recovery_txn(session: AsyncSession, user_id: str) -> None:
    await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))


async def take_challenge_txn(
    session: AsyncSession, user_id: str, purpose: str, now: datetime
) -> str | None:
    """The user's newest live challenge for this purpose; every one of theirs is spent."""
    rows = list(
        await session.scalars(
            select(WebauthnChallenge)
            .where(WebauthnChallenge.user_id == user_id, WebauthnChallenge.purpose == purpose)
            .order_by(WebauthnChallenge.expires_at.desc())
        )
    )
    await session.execute(
        delete(WebauthnChallenge).where(
            WebauthnChallenge.user_id == user_id, WebauthnChallenge.purpose == purpose
        )
    )
    live = [r for r in rows if r.expires_at > now]
    return live[0].challenge if live else None


async def drop_expired_challenges_txn(session: AsyncSession, now: datetime) -> None:
    await session.execute(delete(WebauthnChallenge).where(WebauthnChallenge.expires_at <= now))
