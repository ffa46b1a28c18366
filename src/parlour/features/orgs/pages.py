"""Pages of organisations: first-run setup, the admins' organisation page, the instance pages.

As with the account pages, each action is one service call; the services decide who may do
what, and their refusals come back here as messages on the page.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from parlour.core.errors import AppError, ErrorCode
from parlour.features.accounts.actor import ROLES, Actor
from parlour.features.accounts.display import is_gone, shown_name
from parlour.features.accounts.pages import password_hint, profile_hints
from parlour.features.accounts.routes import new_account
from parlour.features.orgs.schemas import InvitationIn, OrgIn, OrgPatch, SetupIn
from parlour.features.orgs.service import InvitationLink
from parlour.web.auth import client_of, get_container, set_session_cookie
from parlour.web.forms import kept, notice, parse, render_form, signin_first, text
from parlour.web.pages import check_visitor_form, redirect, render, signed_in

router = APIRouter(include_in_schema=False)

SETUP_FIELDS = ("org_name", "name", "email", "password", "birth_date", "accept_policy")
MIN_AGES = [(16, "16"), (17, "17"), (18, "18")]
ROLE_NAMES = {"owner": "Owner", "admin": "Admin", "member": "Member"}
NOTICES = {
    "welcome": "Your organisation is ready. Invite the people who should join it.",
    "settings-saved": "The organisation's settings are saved.",
    "revoked": "The invitation is withdrawn: its link no longer works.",
    "role-changed": "The role is changed.",
    "suspended": "The member is suspended and signed out everywhere.",
    "reactivated": "The member can sign in again.",
    "reset-forced": "Their password no longer works; a reset link was sent to them.",
}
PAGE_NOT_FOUND = "There is nothing at this address."
ORG_NAME = {"name": "org_name"}  # the schemas' `name` is the form's `org_name`


# -- first run --------------------------------------------------------------------------------


async def _setup_form(
    request: Request,
    token: str,
    error: AppError | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    c = get_container(request)
    context: dict[str, Any] = {
        "token": token,
        "min_age": c.settings.default_min_age,
        "policy": c.policy.current(),
        "hints": profile_hints(),
        "password_hint": password_hint(),
        "values": values or {},
    }
    if error is None:
        return await render(request, "orgs/setup.html", **context)
    return await render_form(request, "orgs/setup.html", error, SETUP_FIELDS, **context)


@router.get("/setup")
async def setup_page(request: Request) -> Response:
    token = request.query_params.get("token", "")
    await get_container(request).orgs.check_setup_link(token)
    return await _setup_form(request, token)


@router.post("/setup")
async def setup_submit(request: Request) -> Response:
    form = await check_visitor_form(request)
    c = get_container(request)
    try:
        body = parse(SetupIn, form)
        joined = await c.orgs.complete_setup(
            body.token, body.org_name, new_account(body), client_of(request)
        )
    except AppError as error:
        if error.code in (ErrorCode.TOKEN_INVALID, ErrorCode.SETUP_DONE):
            raise
        return await _setup_form(request, text(form, "token"), error, kept(form, *SETUP_FIELDS))
    response = redirect("/org?notice=welcome")
    set_session_cookie(response, c, joined.session_secret)
    return response


# -- the organisation, for its owners and admins ----------------------------------------------


async def _org_page(
    request: Request,
    actor: Actor,
    error: AppError | None = None,
    on_form: tuple[str, ...] = (),
    values: dict[str, str] | None = None,
    aliases: dict[str, str] | None = None,
    created: InvitationLink | None = None,
) -> Response:
    c = get_container(request)
    org = await c.orgs.access_org(actor, actor.org_id)
    invitations = await c.orgs.list_invitations(actor, org.id)  # refuses members who are not admins
    people = await c.orgs.list_members(actor, org.id)
    context: dict[str, Any] = {
        "org": org,
        "members": [m for m in people if not is_gone(m)],
        "deleted": [shown_name(m) for m in people if is_gone(m)],
        "invitations": invitations,
        "created": created,
        "roles": [(r, ROLE_NAMES[r]) for r in ROLES if r != "owner" or actor.role == "owner"],
        "role_names": ROLE_NAMES,
        "min_ages": MIN_AGES,
        "values": values or {"org_name": org.name, "min_age": str(org.min_age)},
        "notice": notice(request, NOTICES),
    }
    if error is None:
        return await render(request, "orgs/org.html", status=201 if created else 200, **context)
    return await render_form(request, "orgs/org.html", error, on_form, aliases=aliases, **context)


@router.get("/org")
async def org_page(request: Request) -> Response:
    actor = await signed_in(request)
    if actor is None:
        return signin_first(request)
    return await _org_page(request, actor)


@router.post("/org/settings")
async def org_settings(request: Request) -> Response:
    actor = await signed_in(request)
    if actor is None:
        return signin_first(request)
    form = await request.form()
    try:
        body = parse(OrgPatch, form, ORG_NAME)
        await get_container(request).orgs.update_org(actor, actor.org_id, body.name, body.min_age)
    except AppError as error:
        on_form = ("org_name", "min_age")
        return await _org_page(request, actor, error, on_form, kept(form, *on_form), ORG_NAME)
    return redirect("/org?notice=settings-saved")


@router.post("/org/invitations")
async def org_invite(request: Request) -> Response:
    """Shows the new link on the page it answers with: the secret is not kept to show again."""
    actor = await signed_in(request)
    if actor is None:
        return signin_first(request)
    form = await request.form()
    data = {"role": text(form, "role") or "member"}
    if text(form, "email").strip():
        data["email"] = text(form, "email").strip()
    try:
        body = parse(InvitationIn, data)
        email = str(body.email) if body.email else None
        created = await get_container(request).orgs.invite(actor, actor.org_id, email, body.role)
    except AppError as error:
        on_form = ("email", "role")
        return await _org_page(request, actor, error, on_form, kept(form, *on_form))
    return await _org_page(request, actor, created=created)


@router.post("/org/invitations/{invitation_id}/revoke")
async def org_revoke_invitation(request: Request, invitation_id: str) -> Response:
    actor = await signed_in(request)
    if actor is None:
        return signin_first(request)
    await get_container(request).orgs.revoke_invitation(actor, actor.org_id, invitation_id)
    return redirect("/org?notice=revoked")


@router.post("/org/members/{user_id}/role")
async def org_member_role(request: Request, user_id: str) -> Response:
    actor = await signed_in(request)
    if actor is None:
        return signin_first(request)
    role = text(await request.form(), "role")
    try:
        await get_container(request).orgs.change_role(actor, actor.org_id, user_id, role)  # type: ignore[arg-type]
    except AppError as error:
        return await _org_page(request, actor, error)
    return redirect("/org?notice=role-changed")


@router.post("/org/members/{user_id}/status")
async def org_member_status(request: Request, user_id: str) -> Response:
    actor = await signed_in(request)
    if actor is None:
        return signin_first(request)
    status = text(await request.form(), "status")
    try:
        await get_container(request).orgs.set_status(actor, actor.org_id, user_id, status)
    except AppError as error:
        return await _org_page(request, actor, error)
    return redirect("/org?notice=" + ("suspended" if status == "suspended" else "reactivated"))


@router.post("/org/members/{user_id}/reset")
async def org_member_reset(request: Request, user_id: str) -> Response:
    actor = await signed_in(request)
    if actor is None:
        return signin_first(request)
    try:
        await get_container(request).orgs.force_password_reset(actor, actor.org_id, user_id)
    except AppError as error:
        return await _org_page(request, actor, error)
    return redirect("/org?notice=reset-forced")


# -- the instance, for its owner --------------------------------------------------------------


def _instance_owner(actor: Actor) -> None:
    """Other people see the same 'not found' as for any address that does not exist."""
    if not actor.is_instance_owner:
        raise AppError(ErrorCode.NOT_FOUND, PAGE_NOT_FOUND)


async def _admin_page(
    request: Request,
    actor: Actor,
    error: AppError | None = None,
    values: dict[str, str] | None = None,
    created: InvitationLink | None = None,
) -> Response:
    c = get_container(request)
    context: dict[str, Any] = {
        "orgs": await c.orgs.list_orgs(actor),
        "outbox": c.mailer.keeps_outbox,
        "min_ages": MIN_AGES,
        "created": created,
        "values": values or {"min_age": str(c.settings.default_min_age)},
    }
    if error is None:
        return await render(request, "admin/index.html", status=201 if created else 200, **context)
    on_form = ("org_name", "min_age", "owner_email")
    return await render_form(
        request, "admin/index.html", error, on_form, aliases=ORG_NAME, **context
    )


@router.get("/admin")
async def admin_page(request: Request) -> Response:
    actor = await signed_in(request)
    if actor is None:
        return signin_first(request)
    _instance_owner(actor)
    return await _admin_page(request, actor)


@router.post("/admin/orgs")
async def admin_create_org(request: Request) -> Response:
    actor = await signed_in(request)
    if actor is None:
        return signin_first(request)
    _instance_owner(actor)
    form = await request.form()
    data = {k: text(form, k).strip() for k in ("org_name", "min_age", "owner_email")}
    if not data["owner_email"]:
        del data["owner_email"]  # no address: the page shows the owner's invitation link instead
    try:
        body = parse(OrgIn, data, ORG_NAME)
        owner_email = str(body.owner_email) if body.owner_email else None
        _org, link = await get_container(request).orgs.create_org(
            actor, body.name, body.min_age, owner_email
        )
    except AppError as error:
        values = kept(form, "org_name", "min_age", "owner_email")
        return await _admin_page(request, actor, error, values)
    return await _admin_page(request, actor, created=link)


@router.get("/admin/outbox")
async def admin_outbox(request: Request) -> Response:
    """Development mode only: the mail that would have gone out, links included."""
    actor = await signed_in(request)
    if actor is None:
        return signin_first(request)
    _instance_owner(actor)
    c = get_container(request)
    if not c.mailer.keeps_outbox:
        raise AppError(ErrorCode.NOT_FOUND, PAGE_NOT_FOUND)
    return await render(request, "admin/outbox.html", mails=await c.mailer.recent())
