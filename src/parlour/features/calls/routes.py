"""JSON API of calls: start, answer, decline, hang up, media up, quality, history, ICE."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from parlour.container import Container
from parlour.core.errors import AppError, ErrorCode
from parlour.core.ids import same
from parlour.features.accounts.actor import Actor
from parlour.features.calls.records import (
    CallView,
    Endpoint,
    GuestPass,
    QualityReport,
    call_wire,
    guest_key,
)
from parlour.features.calls.schemas import (
    AnswerIn,
    CallIn,
    CallOut,
    ClientFacts,
    DeviceIn,
    FeedOut,
    GuestJoinIn,
    GuestLinkOut,
    GuestOut,
    HangupIn,
    IceOut,
    PublishIn,
    PublishOut,
    QualityIn,
    SdpAnswerIn,
    SubscribeIn,
    SubscribeOut,
    TrickleIn,
)
from parlour.features.calls.state import Disconnect
from parlour.web.auth import (
    CSRF_HEADER,
    GUEST_COOKIE,
    SAFE_METHODS,
    ApiCaller,
    csrf_token,
    current_actor,
    get_container,
    guest_id_of,
    guest_signer,
)

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


def quality_report(body: QualityIn) -> QualityReport:
    return QualityReport(
        body.packet_loss_pct,
        body.jitter_ms,
        body.round_trip_ms,
        body.bitrate_kbps,
        body.frames_decoded,
    )


def out(view: CallView) -> dict[str, Any]:
    return call_wire(view.call, view.participants, view.gone)


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
    me: ApiCaller,
    c: Ctr,
    conversation_id: Annotated[str | None, Query(max_length=64)] = None,
    before: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[dict[str, Any]]:
    return [out(v) for v in await c.calls.history(me, conversation_id, before, limit)]


@router.get("/calls/{call_id}", response_model=CallOut)
async def get_call(call_id: str, me: ApiCaller, c: Ctr) -> dict[str, Any]:
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


@router.post("/calls/{call_id}/device", response_model=CallOut)
async def move_to_device(call_id: str, body: DeviceIn, me: Me, c: Ctr) -> dict[str, Any]:
    """After the page's stream reconnected: the leg moves to the new connection."""
    return out(await c.calls.move_to_device(me, call_id, body.device_id))


@router.post("/calls/{call_id}/quality", status_code=204)
async def quality(call_id: str, body: QualityIn, me: Me, c: Ctr) -> Response:
    await c.calls.report_quality(me, call_id, quality_report(body))
    return Response(status_code=204)


# -- guests: a join link, a display name, and a cookie bound to that one call (P-ACC-7) ------

guests = APIRouter(prefix="/api/v1/guest", tags=["calls"])


async def current_guest(request: Request) -> GuestPass:
    container = get_container(request)
    guest_id = guest_id_of(container, request.cookies.get(GUEST_COOKIE))
    guest = await container.calls.guest_pass(guest_id) if guest_id else None
    if guest is None:
        raise AppError(ErrorCode.UNAUTHENTICATED, "Open the call link again to join.")
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not same(sent, csrf_token(container, "guest:" + guest.guest_id)):
            raise AppError(ErrorCode.CSRF_FAILED, "This request lacks a valid CSRF token.")
    return guest


Guest = Annotated[GuestPass, Depends(current_guest)]


@router.post("/calls/{call_id}/guest-links", status_code=201, response_model=GuestLinkOut)
async def guest_link(call_id: str, me: Me, c: Ctr) -> GuestLinkOut:
    secret, expires = await c.calls.create_guest_link(me, call_id)
    return GuestLinkOut(url=f"{c.settings.base_url}/call/guest/{secret}", expires_at=expires)


@guests.post("/join", response_model=GuestOut)
async def guest_join(body: GuestJoinIn, c: Ctr, response: Response) -> GuestOut:
    guest = await c.calls.guest_join(body.token, body.display_name)
    response.set_cookie(
        GUEST_COOKIE,
        guest_signer(c).sign(guest.guest_id).decode(),
        max_age=86400,
        httponly=True,
        secure=c.settings.secure_cookies,
        samesite="lax",
        path="/",
    )
    return GuestOut(
        guest_id=guest.guest_id,
        key=guest_key(guest.guest_id),
        call_id=guest.call_id,
        csrf_token=csrf_token(c, "guest:" + guest.guest_id),
    )


@guests.get("/call/ice", response_model=IceOut)
async def guest_ice(guest: Guest, c: Ctr) -> IceOut:
    """The same STUN and TURN servers as members get, with a credential of the guest's own."""
    return IceOut.model_validate(
        {"ice_servers": c.calls.ice_servers(guest), "mesh_limit": c.settings.call_mesh_limit}
    )


@guests.get("/call", response_model=CallOut)
async def guest_call(guest: Guest, c: Ctr) -> dict[str, Any]:
    return out(await c.calls.get(guest, guest.call_id))


@guests.post("/call/accept", response_model=CallOut)
async def guest_accept(body: AnswerIn, request: Request, guest: Guest, c: Ctr) -> dict[str, Any]:
    endpoint = endpoint_of(request, body.client)
    return out(await c.calls.accept(guest, guest.call_id, body.device_id, endpoint))


@guests.post("/call/connected", response_model=CallOut)
async def guest_connected(guest: Guest, c: Ctr) -> dict[str, Any]:
    return out(await c.calls.connected(guest, guest.call_id))


@guests.post("/call/hangup", response_model=CallOut)
async def guest_hangup(body: HangupIn, guest: Guest, c: Ctr) -> dict[str, Any]:
    return out(await c.calls.hangup(guest, guest.call_id, Disconnect(body.reason)))


@guests.post("/call/device", response_model=CallOut)
async def guest_move_to_device(body: DeviceIn, guest: Guest, c: Ctr) -> dict[str, Any]:
    return out(await c.calls.move_to_device(guest, guest.call_id, body.device_id))


@guests.post("/call/quality", status_code=204)
async def guest_quality(body: QualityIn, guest: Guest, c: Ctr) -> Response:
    await c.calls.report_quality(guest, guest.call_id, quality_report(body))
    return Response(status_code=204)


# -- calls carried by the SFU ----------------------------------------------------------------


@router.post("/calls/{call_id}/sfu/publish", response_model=PublishOut)
async def sfu_publish(call_id: str, body: PublishIn, me: Me, c: Ctr) -> PublishOut:
    feed, sdp = await c.call_media.publish(me, call_id, body.sdp)
    return PublishOut(feed=feed, sdp=sdp)


@router.get("/calls/{call_id}/sfu/feeds", response_model=list[FeedOut])
async def sfu_feeds(call_id: str, me: Me, c: Ctr) -> list[FeedOut]:
    return [
        FeedOut(participant=f.participant, feed=f.feed)
        for f in await c.call_media.feeds(me, call_id)
    ]


@router.post("/calls/{call_id}/sfu/subscribe", response_model=SubscribeOut)
async def sfu_subscribe(call_id: str, body: SubscribeIn, me: Me, c: Ctr) -> SubscribeOut:
    handle, sdp = await c.call_media.subscribe(me, call_id, body.feed)
    return SubscribeOut(handle=handle, sdp=sdp)


@router.post("/calls/{call_id}/sfu/answer", status_code=204)
async def sfu_answer(call_id: str, body: SdpAnswerIn, me: Me, c: Ctr) -> Response:
    await c.call_media.answer(me, call_id, body.handle, body.sdp)
    return Response(status_code=204)


@router.post("/calls/{call_id}/sfu/trickle", status_code=204)
async def sfu_trickle(call_id: str, body: TrickleIn, me: Me, c: Ctr) -> Response:
    await c.call_media.trickle(me, call_id, body.handle, body.candidate)
    return Response(status_code=204)
