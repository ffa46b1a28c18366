"""JSON API of API keys: an organisation's owners and admins make, list and revoke them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from parlour.container import Container
from parlour.features.accounts.actor import Actor
from parlour.features.apikeys.access import KEY_PREFIX
from parlour.features.apikeys.models import ApiKey
from parlour.features.apikeys.schemas import ApiKeyCreated, ApiKeyIn, ApiKeyOut, UsageMinute
from parlour.features.apikeys.service import key_state, scopes_of
from parlour.web.auth import current_actor, get_container

router = APIRouter(prefix="/api/v1", tags=["api keys"])
Ctr = Annotated[Container, Depends(get_container)]
Me = Annotated[Actor, Depends(current_actor)]


def key_out(key: ApiKey, c: Container) -> ApiKeyOut:
    return ApiKeyOut(
        id=key.id,
        prefix=KEY_PREFIX + key.id,
        name=key.name,
        scopes=sorted(scopes_of(key)),
        state=key_state(key, c.clock.now()),
        bot_user_id=key.bot_user_id,
        created_by=key.created_by,
        created_at=key.created_at,
        expires_at=key.expires_at,
        last_used_at=key.last_used_at,
        revoked_at=key.revoked_at,
    )


@router.get("/orgs/{org_id}/api-keys", response_model=list[ApiKeyOut])
async def list_keys(org_id: str, me: Me, c: Ctr) -> list[ApiKeyOut]:
    return [key_out(k, c) for k in await c.api_keys.list_keys(me, org_id)]


@router.post("/orgs/{org_id}/api-keys", status_code=201, response_model=ApiKeyCreated)
async def create_key(org_id: str, body: ApiKeyIn, me: Me, c: Ctr) -> ApiKeyCreated:
    """The answer holds the whole key; it is never shown again, so keep it now."""
    new = await c.api_keys.create(me, org_id, body.name, body.scopes, body.expires_at)
    return ApiKeyCreated(**key_out(new.key, c).model_dump(), key=new.token)


@router.delete("/orgs/{org_id}/api-keys/{key_id}", status_code=204)
async def revoke_key(org_id: str, key_id: str, me: Me, c: Ctr) -> Response:
    await c.api_keys.revoke(me, org_id, key_id)
    return Response(status_code=204)


@router.get("/orgs/{org_id}/api-keys/{key_id}/usage", response_model=list[UsageMinute])
async def key_usage(org_id: str, key_id: str, me: Me, c: Ctr) -> list[UsageMinute]:
    rows = await c.api_keys.usage(me, org_id, key_id)
    return [UsageMinute(minute=m, requests=r, refused=f) for m, r, f in rows]
