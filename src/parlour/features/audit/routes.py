"""JSON API of the audit log: an organisation's admins read its entries, newest first."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from parlour.container import Container
from parlour.features.audit.models import AuditEntry
from parlour.features.audit.schemas import AuditEntryOut, AuditPage
from parlour.web.auth import ApiCaller, get_container

router = APIRouter(prefix="/api/v1", tags=["audit"])
Ctr = Annotated[Container, Depends(get_container)]


def entry_out(e: AuditEntry) -> AuditEntryOut:
    return AuditEntryOut(
        seq=e.seq,
        at=e.at,
        actor_id=e.actor_id,
        actor_role=e.actor_role,
        action=e.action,
        subject_user_id=e.subject_user_id,
        fields=json.loads(e.fields),
        request_id=e.request_id,
        hash=e.hash,
    )


@router.get("/orgs/{org_id}/audit", response_model=AuditPage)
async def org_audit(
    org_id: str,
    me: ApiCaller,
    c: Ctr,
    cursor: Annotated[str | None, Query(max_length=20)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> AuditPage:
    """Admins of the organisation only; pass ``next_cursor`` back for the next page."""
    page = await c.audit.org_page(me, org_id, cursor, limit)
    return AuditPage(entries=[entry_out(e) for e in page.entries], next_cursor=page.next_cursor)
