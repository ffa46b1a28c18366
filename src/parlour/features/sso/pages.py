"""Pages of sign-in through the organisation: the owner's settings at /org/sign-in, the
"Sign in with your organisation" step, the provider's callback and the new-account page.

Between the steps the browser carries one sealed, short-lived cookie (`parlour_sso`), scoped
to /signin/sso: the flow's state, nonce and PKCE verifier, then who the provider vouched for.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from parlour.core.errors import AppError
from parlour.features.accounts.pages import profile_hints
from parlour.features.sso import NeedsAccount, ProviderChange, SignedIn
from parlour.features.sso.flow import FLOW_SECONDS, NEW_ACCOUNT_SECONDS
from parlour.features.sso.schemas import NewAccountIn
from parlour.web.auth import client_of, get_container, set_session_cookie
from parlour.web.forms import kept, local_path, notice, parse, render_form, signin_first, text
from parlour.web.pages import check_visitor_form, redirect, render, signed_in

router = APIRouter(include_in_schema=False)

COOKIE = "parlour_sso"
COOKIE_PATH = "/signin/sso"
NEW_ACCOUNT = "/signin/sso/new-account"
PROVIDER_FIELDS = ("issuer", "client_id", "client_secret", "domains")
NEW_ACCOUNT_FIELDS = ("name", "birth_date", "accept_policy")
NOTICES = {
    "saved": "Saved. People of these domains can now sign in through your provider.",
    "unlinked": "Unlinked. That provider no longer signs you in to this account.",
}


def _set_flow_cookie(request: Request, response: Response, value: str, seconds: int) -> None:
    response.set_cookie(
        COOKIE,
        value,
        max_age=seconds,
        httponly=True,
        secure=get_container(request).settings.secure_cookies,
        samesite="lax",  # the provider's redirect back is a top-level navigation
        path=COOKIE_PATH,
    )


def _clear_flow_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(
        COOKIE,
        path=COOKIE_PATH,
        httponly=True,
        secure=get_container(request).settings.secure_cookies,
        samesite="lax",
    )


async def _refused(request: Request, error: AppError) -> Response:
    response = await render(request, "sso/refused.html", status=error.status, error=error)
    _clear_flow_cookie(request, response)
    return response


# -- the owner's settings ---------------------------------------------------------------------


async def _org_page(
    request: Request, error: AppError | None = None, values: dict[str, str] | None = None
) -> Response:
    actor = await signed_in(request)
    if actor is None:
        return signin_first(request)
    c = get_container(request)
    org = await c.orgs.access_org(actor, actor.org_id)
    view = await c.sso.provider(actor, org.id)  # refuses anyone but an owner
    if values is None:
        values = (
            {"issuer": view.issuer, "client_id": view.client_id, "domains": "\n".join(view.domains)}
            if view
            else {}
        )
    context: dict[str, Any] = {
        "org": org,
        "provider": view,
        "redirect_uri": c.sso.redirect_uri,
        "values": values,
        "notice": notice(request, NOTICES),
    }
    if error is None:
        return await render(request, "sso/org.html", **context)
    return await render_form(request, "sso/org.html", error, PROVIDER_FIELDS, **context)


@router.get("/org/sign-in")
async def org_signin_page(request: Request) -> Response:
    return await _org_page(request)


@router.post("/org/sign-in")
async def org_signin_save(request: Request) -> Response:
    actor = await signed_in(request)
    if actor is None:
        return signin_first(request)
    form = await request.form()
    domains = text(form, "domains").replace(",", "\n").split()
    change = ProviderChange(
        text(form, "issuer"), text(form, "client_id"), text(form, "client_secret") or None, domains
    )
    try:
        await get_container(request).sso.configure(actor, actor.org_id, change)
    except AppError as error:
        return await _org_page(request, error, kept(form, "issuer", "client_id", "domains"))
    return redirect("/org/sign-in?notice=saved")


@router.post("/org/sign-in/remove")
async def org_signin_remove(request: Request) -> Response:
    actor = await signed_in(request)
    if actor is None:
        return signin_first(request)
    await get_container(request).sso.remove(actor, actor.org_id)
    return redirect("/org/sign-in")


# -- signing in -------------------------------------------------------------------------------


@router.post("/signin/sso")
async def signin_sso_start(request: Request) -> Response:
    form = await check_visitor_form(request)
    target = local_path(text(form, "next"))
    c = get_container(request)
    try:
        started = await c.sso.start(text(form, "email"), target)
    except AppError as error:
        return await render(
            request,
            "accounts/signin.html",
            status=error.status,
            next=target,
            values={},
            sso_error=error.fields.get("email", error.detail),
            sso_email=text(form, "email"),
        )
    response = await render(request, "sso/continue.html", url=started.url)
    _set_flow_cookie(request, response, started.sealed_flow, FLOW_SECONDS)
    return response


@router.get("/signin/sso/callback")
async def signin_sso_callback(request: Request) -> Response:
    c = get_container(request)
    params = {k: request.query_params.get(k, "") for k in ("state", "code", "error")}
    try:
        done = await c.sso.finish(request.cookies.get(COOKIE), params, client_of(request))
    except AppError as error:
        return await _refused(request, error)
    return _answer(request, done)


def _answer(request: Request, done: SignedIn | NeedsAccount, welcome: bool = False) -> Response:
    """Signed in: where the person was going (a new account: the profile, as after sign-up)."""
    if isinstance(done, NeedsAccount):
        response = redirect(NEW_ACCOUNT)
        _set_flow_cookie(request, response, done.sealed, NEW_ACCOUNT_SECONDS)
        return response
    response = redirect("/profile?notice=welcome" if welcome else done.next)
    _clear_flow_cookie(request, response)
    set_session_cookie(response, get_container(request), done.session_secret)
    return response


async def _new_account_form(
    request: Request, error: AppError | None = None, values: dict[str, str] | None = None
) -> Response:
    c = get_container(request)
    try:
        view = await c.sso.new_account_view(request.cookies.get(COOKIE))
    except AppError as expired:
        return await _refused(request, expired)
    context: dict[str, Any] = {
        "view": view,
        "policy": c.policy.current(),
        "name_hint": profile_hints()["name"].text,
        "values": values if values is not None else {"name": view.name},
    }
    if error is None:
        return await render(request, "sso/new_account.html", **context)
    return await render_form(request, "sso/new_account.html", error, NEW_ACCOUNT_FIELDS, **context)


@router.get(NEW_ACCOUNT)
async def new_account_page(request: Request) -> Response:
    return await _new_account_form(request)


@router.post(NEW_ACCOUNT)
async def new_account_submit(request: Request) -> Response:
    form = await check_visitor_form(request)
    c = get_container(request)
    try:
        body = parse(NewAccountIn, form)
        done = await c.sso.create_account(
            request.cookies.get(COOKIE),
            body.name,
            body.birth_date,
            body.accept_policy,
            client_of(request),
        )
    except AppError as error:
        return await _new_account_form(request, error, kept(form, *NEW_ACCOUNT_FIELDS))
    return _answer(request, done, welcome=True)


# -- a person's linked identities -------------------------------------------------------------


@router.get("/sessions/linked")
async def linked_page(request: Request) -> Response:
    actor = await signed_in(request)
    if actor is None:
        return signin_first(request)
    links = await get_container(request).sso.links(actor)
    return await render(request, "sso/linked.html", links=links, notice=notice(request, NOTICES))


@router.post("/sessions/linked/{link_id}/unlink")
async def linked_unlink(request: Request, link_id: str) -> Response:
    actor = await signed_in(request)
    if actor is None:
        return signin_first(request)
    await get_container(request).sso.unlink(actor, link_id)
    return redirect("/sessions/linked?notice=unlinked")
