"""JSON API of calls: start, answer, decline, hang up, media up, quality, history, ICE."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from parlour.container import Container
from parlour.features.accounts.actor import Actor
from parlour.features.calls.schemas import (
    AnswerIn,
    CallIn,
    CallOut,
    ClientFacts,
    HangupIn,
    IceOut,
    QualityIn,
)
from parlour.features.calls.service import CallView, Endpoint, QualityReport, call_wire
from parlour.features.calls.state import Disconnect
from parlour.web.auth import current_actor, get_container

router = APIRouter(prefix="/api/v1", tags=["calls"])
Ctr = Annotated[Container, Depends(get_container)]
Me = Annotated[Actor, Depends(current_actor)]


def endpoint_of(request: Request, facts: ClientFacts) -> Endpoint:
    """The call record keeps the full address (P-CALL-2); logs never do."""
    return Endpoint(
        ip_address=request.client.host if request.client else None,
        endpoint_type="web",
        endpoint_version=facts.endpoint_version,
        device=facts.device,
        os=facts.os,
        browser=facts.browser,
        language=facts.language or request.headers.get("accept-language", "")[:35] or None,
    )


def out(view: CallView) -> dict[str, Any]:
    return call_wire(view.call, view.participants)


@router.get("/calls/ice", response_model=IceOut)
async def ice(me: Me, c: Ctr) -> IceOut:
    return IceOut.model_validate(
        {"ice_servers": c.calls.ice_servers(me), "mesh_limit": c.settings.call_mesh_limit}
    )


@router.post("/calls", status_code=201, response_model=CallOut)
async def start_call(body: CallIn, request: Request, me: Me, c: Ctr) -> dict[str, Any]:
    view = await c.calls.start(
        me, body.conversation_id, body.media, body.device_id, endpoint_of(request, body.client)
    )
    return out(view)


@router.get("/calls", response_model=list[CallOut])
async def call_history(
    me: Me,
    c: Ctr,
    conversation_id: Annotated[str | None, Query(max_length=64)] = None,
    before: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[dict[str, Any]]:
    return [out(v) for v in await c.calls.history(me, conversation_id, before, limit)]


@router.get("/calls/{call_id}", response_model=CallOut)
async def get_call(call_id: str, me: Me, c: Ctr) -> dict[str, Any]:
    return out(await c.calls.get(me, call_id))


@router.post("/calls/{call_id}/ringing", response_model=CallOut)
async def ringing(call_id: str, me: Me, c: Ctr) -> dict[str, Any]:
    return out(await c.calls.ringing(me, call_id))


@router.post("/calls/{call_id}/accept", response_model=CallOut)
async def accept(call_id: str, body: AnswerIn, request: Request, me: Me, c: Ctr) -> dict[str, Any]:
    view = await c.calls.accept(me, call_id, body.device_id, endpoint_of(request, body.client))
    return out(view)


@router.post("/calls/{call_id}/decline", response_model=CallOut)
async def decline(call_id: str, me: Me, c: Ctr) -> dict[str, Any]:
    return out(await c.calls.decline(me, call_id))


@router.post("/calls/{call_id}/connected", response_model=CallOut)
async def connected(call_id: str, me: Me, c: Ctr) -> dict[str, Any]:
    return out(await c.calls.connected(me, call_id))


@router.post("/calls/{call_id}/hangup", response_model=CallOut)
async def hangup(call_id: str, body: HangupIn, me: Me, c: Ctr) -> dict[str, Any]:
    return out(await c.calls.hangup(me, call_id, Disconnect(body.reason)))


@router.post("/calls/{call_id}/quality", status_code=204)
async def quality(call_id: str, body: QualityIn, me: Me, c: Ctr) -> Response:
    report = QualityReport(
        body.packet_loss_pct,
        body.jitter_ms,
        body.round_trip_ms,
        body.bitrate_kbps,
        body.frames_decoded,
    )
    await c.calls.report_quality(me, call_id, report)
    return Response(status_code=204)
