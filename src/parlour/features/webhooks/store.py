"""Queries of the webhook tables. Nothing here commits: the service owns the transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from parlour.features.accounts.models import User
from parlour.features.webhooks.models import (
    ACTIVE,
    CANCELLED,
    PENDING,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)

MAX_ENDPOINTS = 50  # per organisation


async def endpoints_of(session: AsyncSession, org_id: str) -> list[WebhookEndpoint]:
    query = (
        select(WebhookEndpoint)
        .where(WebhookEndpoint.org_id == org_id)
        .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
    )
    return list(await session.scalars(query))


async def active_endpoints(session: AsyncSession, org_id: str) -> list[WebhookEndpoint]:
    query = select(WebhookEndpoint).where(
        WebhookEndpoint.org_id == org_id, WebhookEndpoint.state == ACTIVE
    )
    return list(await session.scalars(query))


async def deliveries_of(
    session: AsyncSession, endpoint_id: str, limit: int
) -> list[WebhookDelivery]:
    query = (
        select(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint_id)
        .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id)
        .limit(limit)
    )
    return list(await session.scalars(query))


async def attempts_of(
    session: AsyncSession, delivery_ids: list[str]
) -> dict[str, list[WebhookAttempt]]:
    found: dict[str, list[WebhookAttempt]] = {d: [] for d in delivery_ids}
    if not delivery_ids:
        return found
    query = (
        select(WebhookAttempt)
        .where(WebhookAttempt.delivery_id.in_(delivery_ids))
        .order_by(WebhookAttempt.attempt)
    )
    for attempt in await session.scalars(query):
        found[attempt.delivery_id].append(attempt)
    return found


async def cancel_pending_txn(session: AsyncSession, endpoint_id: str, now: datetime) -> None:
    await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.state == PENDING)
        .values(state=CANCELLED, next_attempt_at=None, finished_at=now)
        .execution_options(synchronize_session=False)
    )


async def owners_of(session: AsyncSession, org_id: str) -> list[User]:
    query = select(User).where(User.org_id == org_id, User.role == "owner", User.status == "active")
    return list(await session.scalars(query))


async def purge_before_txn(session: AsyncSession, cutoff: datetime) -> int:
    old = select(WebhookDelivery.id).where(WebhookDelivery.created_at < cutoff)
    await session.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(old)))
    result = await session.execute(
        delete(WebhookDelivery).where(WebhookDelivery.created_at < cutoff)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
