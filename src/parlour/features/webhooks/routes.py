"""JSON API of webhook subscriptions: /api/v1/orgs/{org_id}/webhooks."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from parlour.container import Container
from parlour.features.webhooks.models import WebhookEndpoint
from parlour.features.webhooks.schemas import (
    AttemptOut,
    DeliveryOut,
    WebhookCreated,
    WebhookIn,
    WebhookOut,
    WebhookPatch,
)
from parlour.features.webhooks.service import LoggedDelivery, NewEndpoint, WithSecret
from parlour.web.auth import ApiCaller, get_container

router = APIRouter(prefix="/api/v1/orgs/{org_id}/webhooks", tags=["webhooks"])
Ctr = Annotated[Container, Depends(get_container)]
Me = ApiCaller  # people, and API keys with webhooks:manage


def webhook_out(e: WebhookEndpoint) -> WebhookOut:
    return WebhookOut(
        id=e.id,
        url=e.url,
        event_types=e.types(),
        scopes=sorted(e.scope_set()),
        state=e.state,
        created_at=e.created_at,
        last_delivery_at=e.last_delivery_at,
        last_outcome=e.last_outcome,
        failed_in_a_row=e.failed_in_a_row,
        previous_secret_until=e.previous_until,
    )


def created_out(made: WithSecret) -> WebhookCreated:
    return WebhookCreated(**webhook_out(made.endpoint).model_dump(), secret=made.secret)


def delivery_out(logged: LoggedDelivery) -> DeliveryOut:
    d = logged.delivery
    return DeliveryOut(
        id=d.id,
        event_type=d.event_type,
        event_id=f"evt_{d.event_id}",
        state=d.state,
        attempts=[
            AttemptOut(
                attempt=a.attempt,
                at=a.at,
                status_code=a.status_code,
                duration_ms=a.duration_ms,
                error=a.error,
            )
            for a in logged.attempts
        ],
        next_attempt_at=d.next_attempt_at,
        created_at=d.created_at,
        finished_at=d.finished_at,
    )


@router.post("", status_code=201, response_model=WebhookCreated)
async def create_webhook(org_id: str, body: WebhookIn, me: Me, c: Ctr) -> WebhookCreated:
    new = NewEndpoint(body.url, list(body.event_types), list(body.scopes))
    return created_out(await c.webhooks.create(me, org_id, new))


@router.get("", response_model=list[WebhookOut])
async def list_webhooks(org_id: str, me: Me, c: Ctr) -> list[WebhookOut]:
    return [webhook_out(e) for e in await c.webhooks.endpoints(me, org_id)]


@router.get("/{webhook_id}", response_model=WebhookOut)
async def get_webhook(org_id: str, webhook_id: str, me: Me, c: Ctr) -> WebhookOut:
    return webhook_out(await c.webhooks.get(me, org_id, webhook_id))


@router.patch("/{webhook_id}", response_model=WebhookOut)
async def update_webhook(
    org_id: str, webhook_id: str, body: WebhookPatch, me: Me, c: Ctr
) -> WebhookOut:
    return webhook_out(await c.webhooks.set_state(me, org_id, webhook_id, body.state))


@router.post("/{webhook_id}/rotate-secret", response_model=WebhookCreated)
async def rotate_secret(org_id: str, webhook_id: str, me: Me, c: Ctr) -> WebhookCreated:
    return created_out(await c.webhooks.rotate(me, org_id, webhook_id))


@router.delete("/{webhook_id}", status_code=204)
async def delete_webhook(org_id: str, webhook_id: str, me: Me, c: Ctr) -> Response:
    await c.webhooks.delete(me, org_id, webhook_id)
    return Response(status_code=204)


@router.get("/{webhook_id}/deliveries", response_model=list[DeliveryOut])
async def list_deliveries(
    org_id: str,
    webhook_id: str,
    me: Me,
    c: Ctr,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[DeliveryOut]:
    return [delivery_out(d) for d in await c.webhooks.log(me, org_id, webhook_id, limit)]
