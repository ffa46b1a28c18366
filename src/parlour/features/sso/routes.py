"""JSON API of sign-in through an identity provider: the owner's settings, linked identities."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from parlour.container import Container
from parlour.core.errors import not_found
from parlour.features.accounts.actor import Actor
from parlour.features.sso import LinkedIdentity, ProviderChange, ProviderView
from parlour.features.sso.schemas import LinkedIdentityOut, ProviderIn, ProviderOut
from parlour.web.auth import current_actor, get_container

router = APIRouter(prefix="/api/v1", tags=["sign-in"])
Ctr = Annotated[Container, Depends(get_container)]
Me = Annotated[Actor, Depends(current_actor)]


def provider_out(view: ProviderView) -> ProviderOut:
    return ProviderOut(
        issuer=view.issuer,
        client_id=view.client_id,
        domains=view.domains,
        redirect_uri=view.redirect_uri,
    )


def link_out(link: LinkedIdentity) -> LinkedIdentityOut:
    return LinkedIdentityOut(
        id=link.id, issuer=link.issuer, created_at=link.created_at, last_used_at=link.last_used_at
    )


@router.get("/orgs/{org_id}/identity-provider", response_model=ProviderOut)
async def get_provider(org_id: str, me: Me, c: Ctr) -> ProviderOut:
    view = await c.sso.provider(me, org_id)
    if view is None:
        raise not_found("identity provider")
    return provider_out(view)


@router.put("/orgs/{org_id}/identity-provider", response_model=ProviderOut)
async def put_provider(org_id: str, body: ProviderIn, me: Me, c: Ctr) -> ProviderOut:
    change = ProviderChange(body.issuer, body.client_id, body.client_secret, body.domains)
    return provider_out(await c.sso.configure(me, org_id, change))


@router.delete("/orgs/{org_id}/identity-provider", status_code=204)
async def delete_provider(org_id: str, me: Me, c: Ctr) -> Response:
    await c.sso.remove(me, org_id)
    return Response(status_code=204)


@router.get("/me/linked-identities", response_model=list[LinkedIdentityOut])
async def list_links(me: Me, c: Ctr) -> list[LinkedIdentityOut]:
    return [link_out(link) for link in await c.sso.links(me)]


@router.delete("/me/linked-identities/{link_id}", status_code=204)
async def unlink(link_id: str, me: Me, c: Ctr) -> Response:
    await c.sso.unlink(me, link_id)
    return Response(status_code=204)
