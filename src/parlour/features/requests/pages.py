"""The privacy contact page (P-POL-3): anyone, signed in or not, opens a tracked request here
and confirms it with the code mailed to them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from parlour.core.errors import AppError
from parlour.features.requests.schemas import RequestIn, VerifyIn
from parlour.features.requests.service import NewRequest
from parlour.features.requests.states import Kind
from parlour.web.auth import get_container
from parlour.web.forms import kept, parse, render_form, text
from parlour.web.pages import check_visitor_form, render, signed_in

router = APIRouter(include_in_schema=False)

FORM = "requests/contact.html"
CODE = "requests/code.html"
FIELDS = ("name", "email", "kind", "message")
KINDS = [
    (Kind.ACCESS.value, "See the data you hold about me (access)"),
    (Kind.RECTIFICATION.value, "Correct data about me (rectification)"),
    (Kind.ERASURE.value, "Delete data about me (erasure)"),
    (Kind.RESTRICTION.value, "Limit how my data is used (restriction)"),
    (Kind.OBJECTION.value, "Object to a use of my data (objection)"),
    (Kind.PORTABILITY.value, "Receive my data to take elsewhere (portability)"),
    (Kind.QUESTION.value, "A question about privacy"),
]


def _contacts(request: Request) -> dict[str, Any]:
    s = get_container(request).settings
    return {
        "kinds": KINDS,
        "contact_email": s.privacy_contact_email,
        "dpo_name": s.dpo_name,
        "dpo_email": s.dpo_email,
    }


async def _posted(request: Request) -> dict[str, Any]:
    """Signed-in people's forms are checked with their session; visitors' with the cookie."""
    if await signed_in(request) is not None:
        return {k: v for k, v in (await request.form()).multi_items()}
    return await check_visitor_form(request)


@router.get("/privacy/contact")
async def contact_page(request: Request) -> Response:
    return await render(request, FORM, values={"kind": "access"}, **_contacts(request))


@router.post("/privacy/contact")
async def contact_submit(request: Request) -> Response:
    form = await _posted(request)
    try:
        body = parse(RequestIn, form)
        new = NewRequest(body.name, str(body.email), body.kind, body.message)
        request_id = await get_container(request).requests.open(new)
    except AppError as error:
        values = kept(form, *FIELDS)
        return await render_form(request, FORM, error, FIELDS, values=values, **_contacts(request))
    return await render(request, CODE, request_id=request_id, values={})


@router.post("/privacy/contact/verify")
async def contact_verify(request: Request) -> Response:
    form = await _posted(request)
    request_id = text(form, "request_id")
    try:
        body = parse(VerifyIn, form)
        row = await get_container(request).requests.verify(body.request_id, body.code)
    except AppError as error:
        return await render_form(request, CODE, error, ("code",), request_id=request_id, values={})
    return await render(request, CODE, request_id=request_id, done=row.due_at, values={})
