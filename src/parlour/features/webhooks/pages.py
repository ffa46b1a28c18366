"""Webhooks in the browser, for the organisation's owners and admins: subscribe (the secret is
shown once), pause, resume, rotate the secret, delete, and read each endpoint's delivery log.

Each action is one ``WebhookService`` call, as in the JSON API; its refusals (an unsafe URL,
a member who is not an admin) come back as messages on the page.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from parlour.core.errors import AppError
from parlour.features.accounts.actor import Actor
from parlour.features.webhooks.payloads import EVENT_TYPES
from parlour.features.webhooks.schemas import WebhookIn
from parlour.features.webhooks.service import NewEndpoint, WithSecret
from parlour.web.auth import get_container
from parlour.web.forms import notice, parse, render_form, signin_first, text
from parlour.web.pages import redirect, render, signed_in

router = APIRouter(include_in_schema=False)

PAGE = "/org/webhooks"
FIELDS = ("url", "event_types", "scopes")
SCOPE_CHOICES = (
    ("messages:read", "Message text", "Without it, payloads carry ids, senders and times only."),
    ("members:read", "Member details", "Names and roles of people joining and leaving."),
    ("calls:read", "Call details", "Media, outcome, length and number of participants."),
)
NOTICES = {
    "paused": "The webhook is paused: nothing is sent to it until you resume it.",
    "resumed": "The webhook is active again.",
    "deleted": "The webhook is deleted.",
}


async def _page(
    request: Request,
    actor: Actor,
    error: AppError | None = None,
    values: dict[str, Any] | None = None,
    shown: WithSecret | None = None,
) -> Response:
    c = get_container(request)
    context: dict[str, Any] = {
        "endpoints": await c.webhooks.endpoints(actor, actor.org_id),
        "event_types": EVENT_TYPES,
        "scope_choices": SCOPE_CHOICES,
        "values": values or {"event_types": [], "scopes": []},
        "shown": shown,
        "notice": notice(request, NOTICES),
    }
    template = "webhooks/list.html"
    if error is None:
        return await render(request, template, status=201 if shown else 200, **context)
    return await render_form(request, template, error, FIELDS, **context)


@router.get(PAGE)
async def webhooks_page(request: Request) -> Response:
    actor = await signed_in(request)
    if actor is None:
        return signin_first(request)
    return await _page(request, actor)


@router.post(PAGE)
async def webhook_create(request: Request) -> Response:
    actor = await signed_in(request)
    if actor is None:
        return signin_first(request)
    form = await request.form()
    values = {
        "url": text(form, "url").strip(),
        "event_types": [v for v in form.getlist("event_types") if isinstance(v, str)],
        "scopes": [v for v in form.getlist("scopes") if isinstance(v, str)],
    }
    try:
        body = parse(WebhookIn, values)
        made = await get_container(request).webhooks.create(
            actor, actor.org_id, NewEndpoint(body.url, list(body.event_types), list(body.scopes))
        )
    except AppError as error:
        return await _page(request, actor, error, values)
    return await _page(request, actor, shown=made)


@router.post(PAGE + "/{webhook_id}/state")
async def webhook_state(request: Request, webhook_id: str) -> Response:
    actor = await signed_in(request)
    if actor is None:
        return signin_first(request)
    state = text(await request.form(), "state")
    await get_container(request).webhooks.set_state(actor, actor.org_id, webhook_id, state)
    return redirect(PAGE + ("?notice=resumed" if state == "active" else "?notice=paused"))


@router.post(PAGE + "/{webhook_id}/rotate")
async def webhook_rotate(request: Request, webhook_id: str) -> Response:
    actor = await signed_in(request)
    if actor is None:
        return signin_first(request)
    made = await get_container(request).webhooks.rotate(actor, actor.org_id, webhook_id)
    return await _page(request, actor, shown=made)


@router.post(PAGE + "/{webhook_id}/delete")
async def webhook_delete(request: Request, webhook_id: str) -> Response:
    actor = await signed_in(request)
    if actor is None:
        return signin_first(request)
    await get_container(request).webhooks.delete(actor, actor.org_id, webhook_id)
    return redirect(PAGE + "?notice=deleted")


@router.get(PAGE + "/{webhook_id}")
async def webhook_log(request: Request, webhook_id: str) -> Response:
    actor = await signed_in(request)
    if actor is None:
        return signin_first(request)
    c = get_container(request)
    endpoint = await c.webhooks.get(actor, actor.org_id, webhook_id)
    deliveries = await c.webhooks.log(actor, actor.org_id, webhook_id)
    return await render(request, "webhooks/log.html", endpoint=endpoint, deliveries=deliveries)
