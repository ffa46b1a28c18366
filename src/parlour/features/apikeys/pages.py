"""The API keys page of an organisation's owners and admins: make, list and revoke keys.

Each action is one service call; the service decides who may; its refusals come back as
messages on the page. A new key is shown on the page that answers its creation, never again.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from parlour.core.errors import AppError, invalid
from parlour.features.accounts.actor import Actor
from parlour.features.apikeys.scopes import SCOPE_TEXT, Scope
from parlour.features.apikeys.service import NewKey, key_state, scopes_of
from parlour.web.auth import get_container
from parlour.web.forms import kept, notice, render_form, signin_first, text
from parlour.web.pages import redirect, render, signed_in

router = APIRouter(include_in_schema=False)

PAGE = "/org/api-keys"
TEMPLATE = "orgs/api_keys.html"
LIFETIMES = [("30", "30 days"), ("90", "90 days"), ("365", "1 year"), ("", "Never")]
NOTICES = {"revoked": "The key is revoked: programs using it are refused from now on."}
ON_FORM = ("name", "scopes", "expires_in_days")


async def _page(
    request: Request,
    actor: Actor,
    error: AppError | None = None,
    values: dict[str, Any] | None = None,
    created: NewKey | None = None,
) -> Response:
    c = get_container(request)
    now = c.clock.now()
    keys = await c.api_keys.list_keys(actor, actor.org_id)  # refuses all but owners and admins
    context: dict[str, Any] = {
        "keys": [(k, key_state(k, now), sorted(scopes_of(k))) for k in keys],
        "scopes": [(s.value, SCOPE_TEXT[s]) for s in Scope],
        "lifetimes": LIFETIMES,
        "created": created,
        "values": values or {"expires_in_days": "90", "scopes": []},
        "notice": notice(request, NOTICES),
    }
    if error is None:
        return await render(request, TEMPLATE, status=201 if created else 200, **context)
    return await render_form(request, TEMPLATE, error, ON_FORM, **context)


@router.get(PAGE)
async def keys_page(request: Request) -> Response:
    actor = await signed_in(request)
    if actor is None:
        return signin_first(request)
    return await _page(request, actor)


def _wanted(form: FormData) -> tuple[str, list[Scope], int | None]:
    chosen = [v for v in form.getlist("scopes") if isinstance(v, str)]
    if any(v not in Scope._value2member_map_ for v in chosen):
        raise invalid("scopes", "Choose scopes from the list.")
    days = text(form, "expires_in_days")
    if days not in {value for value, _ in LIFETIMES}:
        raise invalid("expires_in_days", "Choose how long the key works.")
    return text(form, "name"), [Scope(v) for v in chosen], int(days) if days else None


@router.post(PAGE)
async def create_key(request: Request) -> Response:
    actor = await signed_in(request)
    if actor is None:
        return signin_first(request)
    form = await request.form()
    c = get_container(request)
    try:
        name, scopes, days = _wanted(form)
        expires = c.clock.now() + timedelta(days=days) if days else None
        created = await c.api_keys.create(actor, actor.org_id, name, scopes, expires)
    except AppError as error:
        values: dict[str, Any] = {**kept(form, "name", "expires_in_days")}
        values["scopes"] = [v for v in form.getlist("scopes") if isinstance(v, str)]
        return await _page(request, actor, error, values)
    return await _page(request, actor, created=created)


@router.post(PAGE + "/{key_id}/revoke")
async def revoke_key(request: Request, key_id: str) -> Response:
    actor = await signed_in(request)
    if actor is None:
        return signin_first(request)
    await get_container(request).api_keys.revoke(actor, actor.org_id, key_id)
    return redirect(PAGE + "?notice=revoked")
