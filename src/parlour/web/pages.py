"""Server-rendered pages: the template environment, form CSRF and the HTML error page.

Signed-in forms carry the session's CSRF token (checked in `web.auth`). Forms a visitor fills in
before signing in (sign-in, sign-up, reset) use a double-submit token: a random value in the
strictly necessary cookie `parlour_csrf` that the form must echo.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse, RedirectResponse, Response

from parlour import __version__
from parlour.core.errors import AppError, ErrorCode
from parlour.core.ids import same
from parlour.features.accounts.actor import Actor
from parlour.web import filters
from parlour.web.auth import CSRF_FIELD, csrf_token, get_container, optional_actor

HERE = Path(__file__).parent
FORM_CSRF_COOKIE = "parlour_csrf"

templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.globals["version"] = __version__
filters.install(templates)


def _form_token(request: Request) -> str:
    """The visitor's double-submit token: reused from the cookie, or a new one."""
    existing = request.cookies.get(FORM_CSRF_COOKIE, "")
    token: str = getattr(request.state, "form_csrf", "") or existing
    if len(token) < 32:
        token = secrets.token_urlsafe(32)
    request.state.form_csrf = token
    return token


async def render(
    request: Request, template: str, *, status: int = 200, **context: Any
) -> HTMLResponse:
    """Renders a page; every page knows the actor (or None) and a CSRF token for its forms."""
    actor = await optional_actor(request)
    container = get_container(request)
    token = csrf_token(container, actor.session_id) if actor else _form_token(request)
    context = {**await _hooked_context(request, actor), **context}
    body = templates.get_template(template).render(
        request=request, actor=actor, csrf_field=CSRF_FIELD, csrf=token, **context
    )
    response = HTMLResponse(body, status_code=status, headers={"cache-control": "no-store"})
    if actor is None and request.cookies.get(FORM_CSRF_COOKIE) != token:
        response.set_cookie(
            FORM_CSRF_COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=container.settings.secure_cookies,
            path="/",
        )
    return response


PageHook = Callable[[Request, Actor | None], Awaitable[dict[str, Any]]]


async def _hooked_context(request: Request, actor: Actor | None) -> dict[str, Any]:
    """What features add to every page (the consent banner, for one), via app.state.page_hooks."""
    extra: dict[str, Any] = {}
    for hook in getattr(request.app.state, "page_hooks", ()):
        extra.update(await hook(request, actor))
    return extra


async def check_visitor_form(request: Request) -> dict[str, Any]:
    """Reads a form posted before sign-in and checks its double-submit token."""
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    cookie = request.cookies.get(FORM_CSRF_COOKIE, "")
    if not isinstance(sent, str) or len(cookie) < 32 or not same(sent, cookie):
        raise AppError(
            ErrorCode.CSRF_FAILED,
            "This form has expired or was sent from elsewhere. Reload the page and try again.",
        )
    return {key: value for key, value in form.multi_items()}


async def signed_in(request: Request) -> Actor | None:
    """The actor of a page request (None when signed out). CSRF on writes is checked here too."""
    return await optional_actor(request)


def redirect(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def signin_redirect(request: Request) -> RedirectResponse:
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    return redirect("/signin?next=" + quote(target, safe="/"))


_TITLES = {
    401: "Please sign in",
    403: "Not allowed",
    404: "Not found",
    409: "Already done",
    413: "Too large",
    422: "Please check the form",
    429: "Too many attempts",
}


async def render_error(request: Request, error: AppError) -> Response:
    """The HTML face of a problem detail, for browsers that asked for a page."""
    if error.code is ErrorCode.UNAUTHENTICATED and request.method == "GET":
        return signin_redirect(request)
    try:
        actor = await optional_actor(request)
    except AppError:
        actor = None
    request.state.actor = actor
    response = await render(
        request,
        "error.html",
        status=error.status,
        error=error,
        heading=_TITLES.get(error.status, "Something went wrong"),
    )
    for key, value in error.headers.items():
        response.headers[key] = value
    return response


async def favicon() -> RedirectResponse:
    """Browsers and tools ask for /favicon.ico whatever the page links; the icon is an SVG."""
    return RedirectResponse(
        f"/static/favicon.svg?v={__version__}",
        status_code=301,
        headers={"cache-control": "public, max-age=86400"},
    )


def install(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.add_api_route("/favicon.ico", favicon, methods=["GET", "HEAD"], include_in_schema=False)
    app.state.render_error = render_error
