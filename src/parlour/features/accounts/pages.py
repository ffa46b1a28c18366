"""Pages of accounts: sign-in and out, sign-up by invitation, reset, profile, sessions.

Every action calls the same services as the JSON API: a page parses the form, calls one service
method, and renders the form again with the errors or redirects (post, redirect, get).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import UploadFile
from starlette.responses import Response

from parlour.core.errors import AppError, ErrorCode, invalid
from parlour.core.passwords import MIN_LENGTH
from parlour.features.accounts.actor import Actor
from parlour.features.accounts.models import User
from parlour.features.accounts.profile import ProfileChange
from parlour.features.accounts.routes import check_signup, new_account
from parlour.features.accounts.schemas import (
    PasswordChange,
    ProfileUpdate,
    ResetConfirm,
    ResetRequest,
    SignIn,
)
from parlour.features.privacy.hints import FieldHint, field_hints
from parlour.web.auth import clear_session_cookie, client_of, get_container, set_session_cookie
from parlour.web.forms import (
    kept,
    local_path,
    notice,
    parse,
    render_form,
    signin_first,
    text,
)
from parlour.web.pages import check_visitor_form, redirect, render, signed_in

router = APIRouter(include_in_schema=False)

PERSONAL_FIELDS = ("name", "email", "phone", "title", "department", "location")
SIGNUP_FIELDS = (
    "name",
    "email",
    "password",
    "birth_date",
    "accept_policy",
    "phone",
    "title",
    "department",
    "location",
)
NOTICES = {
    "signed-out": "You are signed out.",
    "password-reset": "Your password is changed. Sign in with the new one.",
    "reset-sent": "If an account uses this address, a reset link is on its way. It works once.",
    "welcome": "Welcome to Parlour: your account is ready. Add more about yourself if you like.",
    "saved": "Your profile is saved.",
    "avatar-saved": "Your picture is saved.",
    "avatar-removed": "Your picture is removed.",
    "password-changed": "Your password is changed. Your other sessions were signed out.",
    "revoked": "That session is signed out.",
    "others-revoked": "Every other browser session is signed out.",
}
PROFILE_FIELDS = ("name", "phone", "title", "department", "location")


@cache
def profile_hints() -> dict[str, FieldHint]:
    """What each profile field is for, from the data map declarations of the users table."""
    return field_hints(User, PERSONAL_FIELDS)


def password_hint() -> str:
    return f"At least {MIN_LENGTH} characters. A few unrelated words make a strong one."


@router.get("/")
async def home(request: Request) -> Response:
    return redirect("/chat" if await signed_in(request) else "/signin")


# -- sign-in and sign-out ---------------------------------------------------------------------


@router.get("/signin")
async def signin_page(request: Request) -> Response:
    target = local_path(request.query_params.get("next"))
    if await signed_in(request):
        return redirect(target)
    return await render(
        request,
        "accounts/signin.html",
        next=target,
        values={},
        notice=notice(request, NOTICES),
        setup_pending=await get_container(request).orgs.setup_pending(),
    )


@router.post("/signin")
async def signin_submit(request: Request) -> Response:
    form = await check_visitor_form(request)
    target = local_path(text(form, "next"))
    c = get_container(request)
    try:
        body = parse(SignIn, form)
        _user, _auth, secret = await c.accounts.sign_in(
            str(body.email), body.password, client_of(request)
        )
    except AppError as error:
        values = kept(form, "email")
        return await render_form(
            request,
            "accounts/signin.html",
            error,
            ("email", "password"),
            next=target,
            values=values,
        )
    response = redirect(target)
    set_session_cookie(response, c, secret)
    return response


@router.post("/signout")
async def signout(request: Request) -> Response:
    actor = await signed_in(request)
    c = get_container(request)
    if actor is not None:
        await c.accounts.sign_out(actor)
    response = redirect("/signin?notice=signed-out")
    clear_session_cookie(response, c)
    return response


# -- sign-up by invitation --------------------------------------------------------------------


def _invitation_secret(request: Request) -> str:
    """Links say `invitation=`; `invite=` is accepted as a shorter spelling."""
    query = request.query_params
    return query.get("invitation") or query.get("invite") or ""


async def _signup_form(
    request: Request,
    secret: str,
    error: AppError | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    c = get_container(request)
    invitation, org = await c.orgs.preview_invitation(secret)
    context: dict[str, Any] = {
        "invitation_secret": secret,
        "org": org,
        "invited_email": invitation.email,
        "policy": c.policy.current(),
        "hints": profile_hints(),
        "password_hint": password_hint(),
        "values": values or {"email": invitation.email or ""},
    }
    if error is None:
        return await render(request, "accounts/signup.html", **context)
    return await render_form(request, "accounts/signup.html", error, SIGNUP_FIELDS, **context)


@router.get("/signup")
async def signup_page(request: Request) -> Response:
    if await signed_in(request):
        return redirect("/")
    return await _signup_form(request, _invitation_secret(request))


@router.post("/signup")
async def signup_submit(request: Request) -> Response:
    form = await check_visitor_form(request)
    c = get_container(request)
    secret = text(form, "invitation")
    try:
        body = await check_signup(c, form)
        joined = await c.orgs.join(body.invitation, new_account(body), client_of(request))
    except AppError as error:
        values = kept(form, *SIGNUP_FIELDS)
        return await _signup_form(request, secret, error, values)
    response = redirect("/profile?notice=welcome")
    set_session_cookie(response, c, joined.session_secret)
    return response


# -- password reset ---------------------------------------------------------------------------


@router.get("/reset")
async def reset_page(request: Request) -> Response:
    return await render(request, "accounts/reset.html", values={}, notice=notice(request, NOTICES))


@router.post("/reset")
async def reset_submit(request: Request) -> Response:
    """The same answer whether or not the account exists."""
    form = await check_visitor_form(request)
    try:
        body = parse(ResetRequest, form)
    except AppError as error:
        values = kept(form, "email")
        return await render_form(request, "accounts/reset.html", error, ("email",), values=values)
    await get_container(request).accounts.request_reset(str(body.email))
    return redirect("/reset?notice=reset-sent")


@router.get("/reset/confirm")
async def reset_confirm_page(request: Request) -> Response:
    token = request.query_params.get("token", "")
    return await render(
        request, "accounts/reset_confirm.html", token=token, password_hint=password_hint()
    )


@router.post("/reset/confirm")
async def reset_confirm_submit(request: Request) -> Response:
    form = await check_visitor_form(request)
    token = text(form, "token")
    try:
        body = parse(ResetConfirm, form)
        await get_container(request).accounts.confirm_reset(body.token, body.new_password)
    except AppError as error:
        return await render_form(
            request,
            "accounts/reset_confirm.html",
            error,
            ("new_password",),
            token=token,
            password_hint=password_hint(),
        )
    return redirect("/signin?notice=password-reset")


# -- profile ----------------------------------------------------------------------------------


async def _profile_page(
    request: Request,
    actor: Actor,
    error: AppError | None = None,
    values: dict[str, str] | None = None,
    on_form: tuple[str, ...] = (),
    aliases: dict[str, str] | None = None,
) -> Response:
    c = get_container(request)
    user = await c.profiles.me(actor)
    org = await c.orgs.access_org(actor, actor.org_id)
    context: dict[str, Any] = {
        "user": user,
        "org": org,
        "hints": profile_hints(),
        "password_hint": password_hint(),
        "avatar_max_mb": c.settings.avatar_max_bytes // (1024 * 1024),
        "values": values or {f: getattr(user, f) or "" for f in PROFILE_FIELDS},
        "notice": notice(request, NOTICES),
    }
    if error is None:
        return await render(request, "accounts/profile.html", **context)
    return await render_form(
        request, "accounts/profile.html", error, on_form, aliases=aliases, **context
    )


@router.get("/profile")
async def profile_page(request: Request) -> Response:
    actor = await signed_in(request)
    if actor is None:
        return signin_first(request)
    return await _profile_page(request, actor)


@router.post("/profile")
async def profile_submit(request: Request) -> Response:
    actor = await signed_in(request)
    if actor is None:
        return signin_first(request)
    form = await request.form()
    try:
        body = parse(ProfileUpdate, form)
        values = body.model_dump(include=set(PROFILE_FIELDS))
        await get_container(request).profiles.update(actor, ProfileChange(values))
    except AppError as error:
        return await _profile_page(
            request, actor, error, kept(form, *PROFILE_FIELDS), PROFILE_FIELDS
        )
    return redirect("/profile?notice=saved")


@router.post("/profile/avatar")
async def avatar_submit(request: Request) -> Response:
    actor = await signed_in(request)
    if actor is None:
        return signin_first(request)
    c = get_container(request)
    upload = (await request.form()).get("avatar")
    try:
        data = (
            await upload.read(c.settings.avatar_max_bytes + 1)
            if isinstance(upload, UploadFile)
            else b""
        )
        if not data:
            raise invalid("avatar", "Choose a picture to upload.", ErrorCode.IMAGE_INVALID)
        await c.profiles.set_avatar(actor, data)
    except AppError as error:
        return await _profile_page(request, actor, error, on_form=("avatar",))
    return redirect("/profile?notice=avatar-saved")


@router.post("/profile/avatar/remove")
async def avatar_remove(request: Request) -> Response:
    actor = await signed_in(request)
    if actor is None:
        return signin_first(request)
    await get_container(request).profiles.remove_avatar(actor)
    return redirect("/profile?notice=avatar-removed")


@router.post("/profile/password")
async def password_submit(request: Request) -> Response:
    actor = await signed_in(request)
    if actor is None:
        return signin_first(request)
    form = await request.form()
    try:
        body = parse(PasswordChange, form)
        await get_container(request).accounts.change_password(
            actor, body.current_password, body.new_password
        )
    except AppError as error:
        on_form = ("current_password", "new_password")
        aliases = {"password": "current_password"}
        return await _profile_page(request, actor, error, on_form=on_form, aliases=aliases)
    return redirect("/profile?notice=password-changed")


# -- sessions ---------------------------------------------------------------------------------


@router.get("/sessions")
async def sessions_page(request: Request) -> Response:
    actor = await signed_in(request)
    if actor is None:
        return signin_first(request)
    sessions = await get_container(request).accounts.list_sessions(actor)
    return await render(
        request,
        "accounts/sessions.html",
        sessions=sessions,
        current=actor.session_id,
        notice=notice(request, NOTICES),
    )


@router.post("/sessions/{session_id}/revoke")
async def session_revoke(request: Request, session_id: str) -> Response:
    actor = await signed_in(request)
    if actor is None:
        return signin_first(request)
    c = get_container(request)
    await c.accounts.revoke_session(actor, session_id)
    if session_id != actor.session_id:
        return redirect("/sessions?notice=revoked")
    response = redirect("/signin?notice=signed-out")
    clear_session_cookie(response, c)
    return response


@router.post("/sessions/revoke-others")
async def sessions_revoke_others(request: Request) -> Response:
    actor = await signed_in(request)
    if actor is None:
        return signin_first(request)
    await get_container(request).accounts.revoke_other_sessions(actor)
    return redirect("/sessions?notice=others-revoked")
