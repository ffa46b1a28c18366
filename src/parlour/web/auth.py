"""Who is calling: a signed session cookie (with CSRF on writes) or a bearer token."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from itsdangerous import BadSignature, TimestampSigner
from starlette.responses import Response

from parlour.container import Container
from parlour.core.errors import AppError, ErrorCode
from parlour.core.ids import keyed_digest, same
from parlour.core.netaddr import truncate_ip
from parlour.features.accounts.actor import Actor, Client
from parlour.features.accounts.service import SECOND_STEP_SECONDS, SecondStep
from parlour.features.apikeys import KEY_PREFIX, KeyActor

SESSION_COOKIE = "parlour_session"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


def session_signer(container: Container) -> TimestampSigner:
    return TimestampSigner(container.secret_key, salt="parlour.session")


GUEST_COOKIE = "parlour_guest"


def guest_signer(container: Container) -> TimestampSigner:
    return TimestampSigner(container.secret_key, salt="parlour.guest")


def guest_id_of(container: Container, raw: str | None) -> str | None:
    """The guest id inside a signed guest cookie, or None."""
    if not raw:
        return None
    try:
        return guest_signer(container).unsign(raw, max_age=86400).decode()
    except BadSignature:
        return None


def csrf_token(container: Container, session_id: str) -> str:
    return keyed_digest(container.secret_key, "csrf:" + session_id)[:40]


def set_session_cookie(response: Response, container: Container, secret: str) -> None:
    """The cookie holds the signed opaque session id and, in the signature, the sign-in time."""
    settings = container.settings
    response.set_cookie(
        SESSION_COOKIE,
        session_signer(container).sign(secret).decode(),
        max_age=settings.session_days * 86400,
        httponly=True,
        secure=settings.secure_cookies,
        samesite="lax",
        path="/",
    )


SECOND_STEP_COOKIE = "parlour_second_step"
FORM_CSRF_COOKIE = "parlour_csrf"


def set_second_step_cookie(response: Response, container: Container, token: str) -> None:
    """The signed, short-lived proof of a right password, while a second factor is asked for."""
    response.set_cookie(
        SECOND_STEP_COOKIE,
        token,
        max_age=SECOND_STEP_SECONDS,
        httponly=True,
        secure=container.settings.secure_cookies,
        samesite="strict",
        path="/",
    )


def clear_second_step_cookie(response: Response, container: Container) -> None:
    response.delete_cookie(
        SECOND_STEP_COOKIE,
        path="/",
        httponly=True,
        secure=container.settings.secure_cookies,
        samesite="strict",
    )


def second_step_of(request: Request, container: Container) -> SecondStep:
    return container.accounts.second_step_of(request.cookies.get(SECOND_STEP_COOKIE))


def check_second_step_csrf(request: Request) -> None:
    """JSON posts of the second step (no session yet) echo the visitor's form token."""
    sent = request.headers.get(CSRF_HEADER, "")
    cookie = request.cookies.get(FORM_CSRF_COOKIE, "")
    if len(cookie) < 32 or not same(sent, cookie):
        raise AppError(ErrorCode.CSRF_FAILED, "This page has expired. Reload it and try again.")


def clear_session_cookie(response: Response, container: Container) -> None:
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        httponly=True,
        secure=container.settings.secure_cookies,
        samesite="lax",
    )


_BROWSERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)
_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("Linux", "Linux"),
)


def describe_agent(agent: str) -> str | None:
    """'Chrome on Linux': enough to recognise a session, far less than the full string."""
    if not agent:
        return None
    browser = next((name for mark, name in _BROWSERS if mark in agent), None)
    system = next((name for mark, name in _SYSTEMS if mark in agent), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or re.sub(r"[^\w .\-/]", "", agent.split(" ")[0])[:40] or None


def client_of(request: Request) -> Client:
    host = request.client.host if request.client else None
    return Client(truncate_ip(host), describe_agent(request.headers.get("user-agent", "")))


async def _from_request(request: Request) -> Actor | None:
    container = get_container(request)
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise AppError(ErrorCode.UNAUTHENTICATED, "Send 'Authorization: Bearer <token>'.")
        if value.strip().startswith(KEY_PREFIX):
            return await container.api_keys.authenticate(value.strip())
        actor = await container.accounts.authenticate(value.strip(), "token")
        if actor is None:
            raise AppError(ErrorCode.UNAUTHENTICATED, "This token is expired or was revoked.")
        return actor
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    try:
        secret = session_signer(container).unsign(raw).decode()
    except BadSignature:
        return None
    actor = await container.accounts.authenticate(secret, "cookie")
    if actor is not None and request.method not in SAFE_METHODS:
        await _check_csrf(request, container, actor)
    return actor


async def _check_csrf(request: Request, container: Container, actor: Actor) -> None:
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not same(sent, csrf_token(container, actor.session_id)):
        raise AppError(
            ErrorCode.CSRF_FAILED,
            "This request lacks a valid CSRF token. Reload the page and try again.",
        )


# What someone whose organisation requires a second factor, and who has none yet, may reach.
ENROLMENT_PATHS = (
    "/profile/security",
    "/api/v1/me/second-factor",
    "/signout",
    "/api/v1/auth/signout",
)
ENROL_FIRST = "Your organisation requires two-factor sign-in. Set it up before anything else."


async def optional_actor(request: Request) -> Actor | None:
    if not hasattr(request.state, "actor"):
        request.state.actor = await _from_request(request)
    actor: Actor | None = request.state.actor
    if isinstance(actor, KeyActor) and not getattr(request.state, "keys_welcome", False):
        await _record_key_use(request, actor, refused="endpoint")
        raise AppError(
            ErrorCode.INSUFFICIENT_SCOPE,
            "API keys cannot call this endpoint; it needs a person's session or token.",
        )
    if actor is not None and actor.must_enrol and not request.url.path.startswith(ENROLMENT_PATHS):
        raise AppError(ErrorCode.SECOND_FACTOR_ENROLMENT_REQUIRED, ENROL_FIRST)
    return actor


async def _record_key_use(request: Request, actor: KeyActor, refused: str | None) -> None:
    await get_container(request).api_keys.record(
        actor.key_id, actor.org_id, actor.user_id, refused, actor.last_used_at
    )


async def api_actor(request: Request) -> AsyncIterator[Actor]:
    """The caller of an endpoint that API keys may call too (use with ``scope="function"``).

    The service checks the key's scopes. Each request made with a key is counted once it is
    answered: as served, or as refused when it went beyond the key's scopes.
    """
    request.state.keys_welcome = True
    actor = await current_actor(request)
    if not isinstance(actor, KeyActor):
        yield actor
        return
    try:
        yield actor
    except AppError as error:
        refused = "scope" if error.code == ErrorCode.INSUFFICIENT_SCOPE else None
        await _record_key_use(request, actor, refused)
        raise
    except Exception:
        await _record_key_use(request, actor, None)
        raise
    await _record_key_use(request, actor, None)


# The parameter type of an endpoint open to API keys as well as people.
ApiCaller = Annotated[Actor, Depends(api_actor, scope="function")]


async def current_actor(request: Request) -> Actor:
    actor = await optional_actor(request)
    if actor is None:
        raise AppError(ErrorCode.UNAUTHENTICATED, "Sign in to continue.")
    return actor
