"""The unsubscribe link of news mail: a page with one button, and the one-click POST.

Neither needs a session or a CSRF token: the signed token in the address is the proof, and all
it can do is switch news mail off. The POST never reads the session, so a signed-in browser and
a mail program's RFC 8058 request are treated alike.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response

from parlour.web.auth import get_container
from parlour.web.pages import redirect, render

router = APIRouter(include_in_schema=False)


@router.get("/unsubscribe/{token}")
async def unsubscribe_page(request: Request, token: str, done: str = "") -> HTMLResponse:
    get_container(request).marketing.user_of(token)  # a bad link says so before the button
    return await render(request, "marketing/unsubscribe.html", token=token, done=done == "1")


@router.post("/unsubscribe/{token}")
async def unsubscribe(request: Request, token: str) -> Response:
    await get_container(request).marketing.unsubscribe(token)
    form = await request.form()
    if form.get("List-Unsubscribe") == "One-Click":  # a mail program, not a person
        return PlainTextResponse("Unsubscribed.")
    return redirect(f"/unsubscribe/{token}?done=1")
