"""Pages of two-factor sign-in: the second step of signing in, the security page, the org rule.

As elsewhere, each action is one service call; refusals come back as messages on the page.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.responses import Response

from parlour.core.errors import AppError, ErrorCode
from parlour.features.accounts.actor import Actor
from parlour.features.accounts.pages import ended_session
from parlour.web.auth import (
    clear_second_step_cookie,
    client_of,
    get_container,
    second_step_of,
    set_session_cookie,
)
from parlour.web.forms import local_path, notice, render_form, signin_first, text
from parlour.web.pages import check_visitor_form, redirect, render, signed_in

router = APIRouter(include_in_schema=False)

SECURITY = "/profile/security"
# ?notice=required (where the organisation's rule sends people) needs no notice: the page says it.
NOTICES = {
    "totp-off": "The authenticator app is off. It no longer signs you in.",
    "passkey-removed": "The passkey is removed.",
    "passkey-added": "The passkey is added. Use it the next time you sign in.",
}
VERIFY_TEMPLATE = "mfa/verify.html"
SECURITY_TEMPLATE = "mfa/security.html"


# -- the second step of signing in ------------------------------------------------------------


async def _verify_page(request: Request, target: str, error: AppError | None = None) -> Response:
    c = get_container(request)
    step = second_step_of(request, c)
    totp, passkeys = await c.mfa.methods(step)
    context: dict[str, Any] = {"next": target, "totp": totp, "passkeys": passkeys, "values": {}}
    if error is None:
        return await render(request, VERIFY_TEMPLATE, **context)
    return await render_form(request, VERIFY_TEMPLATE, error, ("code",), **context)


def _start_again(target: str) -> Response:
    return redirect("/signin?notice=second-step-gone&next=" + quote(target, safe="/"))


@router.get("/signin/verify")
async def verify_page(request: Request) -> Response:
    target = local_path(request.query_params.get("next"))
    if await signed_in(request):
        return redirect(target)
    try:
        return await _verify_page(request, target)
    except AppError as error:
        if error.code is ErrorCode.TOKEN_INVALID:
            return _start_again(target)
        raise


@router.post("/signin/verify")
async def verify_submit(request: Request) -> Response:
    form = await check_visitor_form(request)
    target = local_path(text(form, "next"))
    c = get_container(request)
    try:
        step = second_step_of(request, c)
        _user, _auth, secret = await c.mfa.finish_with_code(
            step, text(form, "code"), client_of(request)
        )
    except AppError as error:
        if error.code is ErrorCode.TOKEN_INVALID:
            return _start_again(target)
        return await _verify_page(request, target, error)
    response = redirect(target)
    set_session_cookie(response, c, secret)
    clear_second_step_cookie(response, c)
    return response


# -- the security page ------------------------------------------------------------------------


async def _security_page(
    request: Request,
    actor: Actor,
    error: AppError | None = None,
    on_form: tuple[str, ...] = (),
    fresh_codes: list[str] | None = None,
    aliases: dict[str, str] | None = None,
) -> Response:
    c = get_container(request)
    context: dict[str, Any] = {
        "mfa": await c.mfa.status(actor),
        "fresh_codes": fresh_codes,
        "notice": notice(request, NOTICES),
        "values": {},
    }
    if error is None:
        return await render(request, SECURITY_TEMPLATE, **context)
    return await render_form(request, SECURITY_TEMPLATE, error, on_form, aliases=aliases, **context)


async def _signed_in_or_redirect(request: Request) -> Actor | Response:
    actor = await signed_in(request)
    return signin_first(request) if actor is None else actor


@router.get(SECURITY)
async def security_page(request: Request) -> Response:
    actor = await _signed_in_or_redirect(request)
    if not isinstance(actor, Actor):
        return actor
    return await _security_page(request, actor)


@router.post(SECURITY + "/totp")
async def totp_start(request: Request) -> Response:
    actor = await _signed_in_or_redirect(request)
    if not isinstance(actor, Actor):
        return actor
    await get_container(request).mfa.start_totp(actor)
    return redirect(SECURITY + "#totp")


@router.post(SECURITY + "/totp/confirm")
async def totp_confirm(request: Request) -> Response:
    actor = await _signed_in_or_redirect(request)
    if not isinstance(actor, Actor):
        return actor
    code = text(await request.form(), "code")
    try:
        fresh = await get_container(request).mfa.confirm_totp(actor, code)
    except AppError as error:
        return await _security_page(request, actor, error, ("code",))
    return await _security_page(request, actor, fresh_codes=fresh)


@router.post(SECURITY + "/totp/disable")
async def totp_disable(request: Request) -> Response:
    actor = await _signed_in_or_redirect(request)
    if not isinstance(actor, Actor):
        return actor
    password = text(await request.form(), "password")
    try:
        await get_container(request).mfa.disable_totp(actor, password)
    except AppError as error:
        return ended_session(request, error) or await _security_page(
            request, actor, error, ("password",)
        )
    return redirect(SECURITY + "?notice=totp-off")


@router.post(SECURITY + "/recovery-codes")
async def recovery_regenerate(request: Request) -> Response:
    actor = await _signed_in_or_redirect(request)
    if not isinstance(actor, Actor):
        return actor
    password = text(await request.form(), "recovery_password")
    try:
        fresh = await get_container(request).mfa.regenerate_recovery(actor, password)
    except AppError as error:
        on_form, aliases = ("recovery_password",), {"password": "recovery_password"}
        return ended_session(request, error) or await _security_page(
            request, actor, error, on_form, aliases=aliases
        )
    return await _security_page(request, actor, fresh_codes=fresh)


@router.post(SECURITY + "/passkeys/{passkey_id}/remove")
async def passkey_remove(request: Request, passkey_id: str) -> Response:
    actor = await _signed_in_or_redirect(request)
    if not isinstance(actor, Actor):
        return actor
    password = text(await request.form(), "password")
    try:
        await get_container(request).passkeys.remove(actor, passkey_id, password)
    except AppError as error:
        return ended_session(request, error) or await _security_page(request, actor, error)
    return redirect(SECURITY + "?notice=passkey-removed")


# -- the organisation's rule ------------------------------------------------------------------


@router.post("/org/two-factor")
async def org_requirement(request: Request) -> Response:
    """Refusals (an owner without a second factor themselves) come back as the error page."""
    actor = await _signed_in_or_redirect(request)
    if not isinstance(actor, Actor):
        return actor
    required = text(await request.form(), "required") == "on"
    await get_container(request).mfa.set_org_requirement(actor, actor.org_id, required)
    return redirect("/org?notice=settings-saved")
