"""The "Your data" page: download a copy of everything, or close the account and erase it.

Both ask for the password again (the same re-authentication the JSON API wants, with the
session's own budget of wrong tries: the try that spends it signs the session out and sends the
browser to sign in) and call the same services as the API: a ZIP built by a durable job, or an
account closed at once and erased by one.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from parlour.core.errors import AppError, ErrorCode
from parlour.features.accounts.actor import Actor
from parlour.features.accounts.pages import ended_session
from parlour.features.privacy.export import EXPIRED, FAILED, READY
from parlour.web.auth import clear_session_cookie, get_container
from parlour.web.forms import notice, render_form, signin_first, text
from parlour.web.pages import redirect, render, signed_in

router = APIRouter(include_in_schema=False)

PAGE = "/privacy/data"
TEMPLATE = "privacy/data.html"
CONFIRM = "delete"
NOTICES = {
    "export-requested": "Your copy is being prepared. We will email you when it is ready.",
}
STATES = {READY: "Ready", FAILED: "Could not be built", EXPIRED: "Expired"}


async def _page(
    request: Request, actor: Actor, error: AppError | None = None, form: str = ""
) -> Response:
    c = get_container(request)
    context: dict[str, Any] = {
        "exports": await c.exports.list(actor),
        "states": STATES,
        "export_days": c.settings.export_days,
        "erasure_hours": c.settings.erasure_hours,
        "confirm_word": CONFIRM,
        "notice": notice(request, NOTICES),
        "form": form,
    }
    if error is None:
        return await render(request, TEMPLATE, **context)
    password = f"{form}_password"  # each form has its own field, so ids stay unique
    fields = (password, "confirm") if form == "delete" else (password,)
    aliases = {"password": password}
    return await render_form(request, TEMPLATE, error, fields, aliases=aliases, **context)


@router.get(PAGE)
async def data_page(request: Request) -> Response:
    actor = await signed_in(request)
    if actor is None:
        return signin_first(request)
    return await _page(request, actor)


async def _confirmed(request: Request, actor: Actor, field: str) -> Actor:
    """The actor with a fresh password confirmation, or an error naming the password field."""
    password = text(await request.form(), field)
    if not password:
        raise AppError(
            ErrorCode.VALIDATION_FAILED,
            "Type your password to confirm it is you.",
            fields={"password": "Type your password."},
        )
    return await get_container(request).accounts.reauthenticate(actor, password)


@router.post(PAGE + "/export")
async def export_submit(request: Request) -> Response:
    actor = await signed_in(request)
    if actor is None:
        return signin_first(request)
    try:
        await get_container(request).exports.request(
            await _confirmed(request, actor, "export_password")
        )
    except AppError as error:
        return ended_session(request, error) or await _page(request, actor, error, form="export")
    return redirect(PAGE + "?notice=export-requested")


@router.post(PAGE + "/delete")
async def delete_submit(request: Request) -> Response:
    actor = await signed_in(request)
    if actor is None:
        return signin_first(request)
    c = get_container(request)
    try:
        if text(await request.form(), "confirm").strip().lower() != CONFIRM:
            raise AppError(
                ErrorCode.VALIDATION_FAILED,
                f'Type "{CONFIRM}" to confirm that the account should go.',
                fields={"confirm": f'Type the word "{CONFIRM}".'},
            )
        due_by = await c.erasure.request(await _confirmed(request, actor, "delete_password"))
    except AppError as error:
        return ended_session(request, error) or await _page(request, actor, error, form="delete")
    request.state.actor = None  # signed out from here on: the page shows no account menu
    response = await render(request, "privacy/closed.html", due_by=due_by)
    clear_session_cookie(response, c)
    return response
