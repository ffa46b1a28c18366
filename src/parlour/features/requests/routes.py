"""JSON API of tracked privacy requests: the public form and code, and the handlers' side."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from parlour.container import Container
from parlour.features.accounts.actor import Actor
from parlour.features.requests.models import PrivacyRequest
from parlour.features.requests.schemas import (
    AnswerIn,
    RequestIn,
    RequestOpened,
    RequestOut,
    RequestVerified,
    StateIn,
    VerifyIn,
)
from parlour.features.requests.service import NewRequest
from parlour.features.requests.states import State
from parlour.web.auth import current_actor, get_container

router = APIRouter(prefix="/api/v1", tags=["privacy requests"])
Ctr = Annotated[Container, Depends(get_container)]
Me = Annotated[Actor, Depends(current_actor)]
OPENED = (
    "We mailed a six-digit code to the address you gave. Enter it to confirm the request; "
    "it works for 30 minutes."
)


def request_out(r: PrivacyRequest) -> RequestOut:
    return RequestOut(
        id=r.id,
        org_id=r.org_id,
        has_account=r.user_id is not None,
        name=r.name,
        email=r.email,
        kind=r.kind,
        message=r.message,
        state=r.state,
        created_at=r.created_at,
        verified_at=r.verified_at,
        due_at=r.due_at,
        reminded_at=r.reminded_at,
        closed_at=r.closed_at,
        answer=r.answer,
        answered_by=r.answered_by,
        answered_at=r.answered_at,
    )


@router.post("/privacy/requests", status_code=202, response_model=RequestOpened)
async def open_request(body: RequestIn, c: Ctr) -> RequestOpened:
    """For anyone, signed in or not; the answer is the same whether an account exists."""
    new = NewRequest(body.name, str(body.email), body.kind, body.message)
    return RequestOpened(request_id=await c.requests.open(new), detail=OPENED)


@router.post("/privacy/requests/verify", response_model=RequestVerified)
async def verify_request(body: VerifyIn, c: Ctr) -> RequestVerified:
    row = await c.requests.verify(body.request_id, body.code)
    return RequestVerified(state=row.state, due_at=row.due_at)


@router.get("/privacy-requests", response_model=list[RequestOut])
async def list_requests(me: Me, c: Ctr) -> list[RequestOut]:
    return [request_out(r) for r in await c.requests.for_handler(me)]


@router.get("/privacy-requests/{request_id}", response_model=RequestOut)
async def get_request(request_id: str, me: Me, c: Ctr) -> RequestOut:
    return request_out(await c.requests.view(me, request_id))


@router.post("/privacy-requests/{request_id}/state", response_model=RequestOut)
async def move_request(request_id: str, body: StateIn, me: Me, c: Ctr) -> RequestOut:
    return request_out(await c.requests.move(me, request_id, State(body.state)))


@router.post("/privacy-requests/{request_id}/answer", response_model=RequestOut)
async def answer_request(request_id: str, body: AnswerIn, me: Me, c: Ctr) -> RequestOut:
    return request_out(await c.requests.answer(me, request_id, body.answer, refuse=body.refuse))
