"""JSON API of privacy requests: download my data, delete my account, legal holds."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response, StreamingResponse

from parlour.container import Container
from parlour.features.accounts.actor import Actor
from parlour.features.privacy.models import Export, LegalHold
from parlour.features.privacy.schemas import ChildIn, ErasureOut, ExportOut, HoldIn, HoldOut
from parlour.web.auth import clear_session_cookie, current_actor, get_container

router = APIRouter(prefix="/api/v1", tags=["privacy"])
Ctr = Annotated[Container, Depends(get_container)]
Me = Annotated[Actor, Depends(current_actor)]


def export_out(export: Export) -> ExportOut:
    ready = export.state == "ready"
    return ExportOut(
        id=export.id,
        state=export.state,
        created_at=export.created_at,
        ready_at=export.ready_at,
        expires_at=export.expires_at,
        size_bytes=export.size_bytes,
        download_url=f"/api/v1/me/exports/{export.id}/download" if ready else None,
    )


def hold_out(hold: LegalHold) -> HoldOut:
    return HoldOut(
        id=hold.id,
        user_id=hold.user_id,
        reason=hold.reason,
        created_at=hold.created_at,
        released_at=hold.released_at,
    )


@router.post("/me/export", status_code=202, response_model=ExportOut)
async def request_export(me: Me, c: Ctr) -> ExportOut:
    """Needs a password confirmed in the last minutes (POST /auth/reauthenticate)."""
    return export_out(await c.exports.request(me))


@router.get("/me/exports", response_model=list[ExportOut])
async def list_exports(me: Me, c: Ctr) -> list[ExportOut]:
    return [export_out(e) for e in await c.exports.list(me)]


@router.get("/me/exports/{export_id}/download", response_class=StreamingResponse)
async def download_export(export_id: str, me: Me, c: Ctr) -> StreamingResponse:
    export = await c.exports.access_download(me, export_id)
    return StreamingResponse(
        c.exports.content(export),
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="parlour-export-{export.id[:8]}.zip"',
            "Content-Length": str(export.size_bytes or 0),
            "Cache-Control": "no-store",
        },
    )


@router.get("/export/schemas/{name}.json")
async def export_schema(name: str, c: Ctr) -> dict[str, Any]:
    """The published JSON Schema of one file of the export."""
    return c.exports.schema(name)


@router.delete("/me", status_code=202, response_model=ErasureOut)
async def delete_me(me: Me, c: Ctr) -> Response:
    """Needs a fresh password confirmation. The account stops working with this response."""
    due_by = await c.erasure.request(me)
    body = ErasureOut(state="closed", due_by=due_by)
    response = Response(body.model_dump_json(), status_code=202, media_type="application/json")
    clear_session_cookie(response, c)
    return response


@router.post("/orgs/{org_id}/members/{user_id}/child", status_code=202)
async def mark_child(org_id: str, user_id: str, body: ChildIn, me: Me, c: Ctr) -> dict[str, str]:
    """The account closes now (sessions and tokens end) and is erased by the erasure job."""
    await c.children.mark_child(me, org_id, user_id, body.reason)
    return {"detail": "The account is closed and its data is being erased."}


@router.get("/orgs/{org_id}/holds", response_model=list[HoldOut])
async def list_holds(org_id: str, me: Me, c: Ctr) -> list[HoldOut]:
    return [hold_out(h) for h in await c.holds.list(me, org_id)]


@router.post("/orgs/{org_id}/holds", status_code=201, response_model=HoldOut)
async def place_hold(org_id: str, body: HoldIn, me: Me, c: Ctr) -> HoldOut:
    return hold_out(await c.holds.place(me, org_id, body.user_id, body.reason))


@router.delete("/orgs/{org_id}/holds/{hold_id}", status_code=204)
async def lift_hold(org_id: str, hold_id: str, me: Me, c: Ctr) -> Response:
    await c.holds.lift(me, org_id, hold_id)
    return Response(status_code=204)
