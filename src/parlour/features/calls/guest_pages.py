"""The page a guest opens from a call link (P-ACC-7): a display name, then the call itself.

The name form is a plain form with the visitor's double-submit CSRF token (or the session's,
when someone signed in opens a link). Joining goes through the same code as
`POST /api/v1/guest/join`, so the cookie is the same; the page then redirects to itself, where
the guest's cookie turns the form into the call (post, redirect, get). The call runs in the
browser (static/call/guest.js) over the guest API and the guest stream.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from parlour.core.errors import AppError, ErrorCode
from parlour.features.calls.models import CALL_RECORD
from parlour.features.calls.records import guest_key
from parlour.features.calls.routes import guest_join
from parlour.features.calls.schemas import GuestJoinIn
from parlour.web.auth import GUEST_COOKIE, csrf_token, get_container, guest_id_of
from parlour.web.forms import kept, parse, render_form, text
from parlour.web.pages import check_visitor_form, redirect, render, signed_in

router = APIRouter(include_in_schema=False)

TEMPLATE = "call/guest.html"
GONE = 410  # the link worked once and does not any more; a made-up link looks the same


def _context(token: str, **extra: Any) -> dict[str, Any]:
    return {"token": token, "retention_days": CALL_RECORD.days, **extra}


@router.get("/call/guest/{token}")
async def guest_page(request: Request, token: str) -> Response:
    c = get_container(request)
    try:
        link_guest = await c.calls.guest_link(token)
    except AppError as error:
        if error.code is not ErrorCode.TOKEN_INVALID:
            raise
        return await render(request, TEMPLATE, status=GONE, **_context(token, stage="over"))
    if guest_id_of(c, request.cookies.get(GUEST_COOKIE)) == link_guest:
        guest = await c.calls.guest_pass(link_guest)
        if guest is not None:
            return await render(
                request,
                TEMPLATE,
                **_context(
                    token,
                    stage="call",
                    call_id=guest.call_id,
                    guest_key=guest_key(guest.guest_id),
                    guest_csrf=csrf_token(c, "guest:" + guest.guest_id),
                ),
            )
    return await render(request, TEMPLATE, **_context(token, stage="name", values={}))


@router.post("/call/guest/{token}")
async def guest_page_join(request: Request, token: str) -> Response:
    if await signed_in(request):  # the session's CSRF token was checked with the session
        form: dict[str, Any] = dict((await request.form()).multi_items())
    else:
        form = await check_visitor_form(request)
    c = get_container(request)
    response = redirect(f"/call/guest/{token}")
    try:
        body = parse(GuestJoinIn, {"token": token, "display_name": text(form, "display_name")})
        await guest_join(body, c, response)
    except AppError as error:
        if error.code is ErrorCode.TOKEN_INVALID:
            return await render(request, TEMPLATE, status=GONE, **_context(token, stage="over"))
        return await render_form(
            request,
            TEMPLATE,
            error,
            ("display_name",),
            **_context(token, stage="name", values=kept(form, "display_name")),
        )
    return response
