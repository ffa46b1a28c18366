"""JSON API of organisations: setup, organisations, members and invitations."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from parlour.container import Container
from parlour.features.accounts.actor import Actor
from parlour.features.accounts.display import user_out
from parlour.features.accounts.routes import new_account
from parlour.features.accounts.schemas import SignedIn, UserOut
from parlour.features.orgs.models import Invitation, Organisation
from parlour.features.orgs.schemas import (
    CreatedOrg,
    InvitationCreated,
    InvitationIn,
    InvitationOut,
    InvitationPreview,
    MemberPatch,
    OrgIn,
    OrgOut,
    OrgPatch,
    SetupIn,
)
from parlour.web.auth import (
    ApiCaller,
    client_of,
    csrf_token,
    current_actor,
    get_container,
    set_session_cookie,
)

router = APIRouter(prefix="/api/v1", tags=["organisations"])
Ctr = Annotated[Container, Depends(get_container)]
Me = Annotated[Actor, Depends(current_actor)]


def org_out(org: Organisation) -> OrgOut:
    return OrgOut(id=org.id, name=org.name, min_age=org.min_age, created_at=org.created_at)


def invitation_out(inv: Invitation) -> InvitationOut:
    return InvitationOut(
        id=inv.id,
        email=inv.email,
        role=inv.role,
        created_at=inv.created_at,
        expires_at=inv.expires_at,
    )


@router.post("/setup", status_code=201, response_model=SignedIn)
async def setup(body: SetupIn, request: Request, response: Response, c: Ctr) -> SignedIn:
    joined = await c.orgs.complete_setup(
        body.token, body.org_name, new_account(body), client_of(request)
    )
    set_session_cookie(response, c, joined.session_secret)
    actor = await c.accounts.authenticate(joined.session_secret, "cookie")
    assert actor is not None  # noqa: S101 - just created
    return SignedIn(user=user_out(joined.user), csrf_token=csrf_token(c, actor.session_id))


@router.get("/orgs", response_model=list[OrgOut])
async def list_orgs(me: Me, c: Ctr) -> list[OrgOut]:
    return [org_out(o) for o in await c.orgs.list_orgs(me)]


@router.post("/orgs", status_code=201, response_model=CreatedOrg)
async def create_org(body: OrgIn, me: Me, c: Ctr) -> CreatedOrg:
    owner_email = str(body.owner_email) if body.owner_email else None
    org, link = await c.orgs.create_org(me, body.name, body.min_age, owner_email)
    return CreatedOrg(org=org_out(org), owner_invitation=link.link)


@router.get("/orgs/{org_id}", response_model=OrgOut)
async def get_org(org_id: str, me: Me, c: Ctr) -> OrgOut:
    return org_out(await c.orgs.access_org(me, org_id))


@router.patch("/orgs/{org_id}", response_model=OrgOut)
async def update_org(org_id: str, body: OrgPatch, me: Me, c: Ctr) -> OrgOut:
    return org_out(await c.orgs.update_org(me, org_id, body.name, body.min_age))


@router.get("/orgs/{org_id}/members", response_model=list[UserOut])
async def list_members(org_id: str, me: ApiCaller, c: Ctr) -> list[UserOut]:
    return [user_out(u) for u in await c.orgs.list_members(me, org_id)]


@router.patch("/orgs/{org_id}/members/{user_id}", response_model=UserOut)
async def update_member(org_id: str, user_id: str, body: MemberPatch, me: Me, c: Ctr) -> UserOut:
    user = await c.orgs.get_member(me, org_id, user_id)
    if body.role is not None:
        user = await c.orgs.change_role(me, org_id, user_id, body.role)
    if body.status is not None:
        user = await c.orgs.set_status(me, org_id, user_id, body.status)
    return user_out(user)


@router.post("/orgs/{org_id}/members/{user_id}/password-reset", status_code=202)
async def force_reset(org_id: str, user_id: str, me: Me, c: Ctr) -> dict[str, str]:
    await c.orgs.force_password_reset(me, org_id, user_id)
    return {"detail": "The member's password no longer works; a reset link was sent to them."}


@router.get("/orgs/{org_id}/invitations", response_model=list[InvitationOut])
async def list_invitations(org_id: str, me: Me, c: Ctr) -> list[InvitationOut]:
    return [invitation_out(i) for i in await c.orgs.list_invitations(me, org_id)]


@router.post("/orgs/{org_id}/invitations", status_code=201, response_model=InvitationCreated)
async def invite(org_id: str, body: InvitationIn, me: Me, c: Ctr) -> InvitationCreated:
    email = str(body.email) if body.email else None
    created = await c.orgs.invite(me, org_id, email, body.role)
    return InvitationCreated(**invitation_out(created.invitation).model_dump(), link=created.link)


@router.delete("/orgs/{org_id}/invitations/{invitation_id}", status_code=204)
async def revoke_invitation(org_id: str, invitation_id: str, me: Me, c: Ctr) -> Response:
    await c.orgs.revoke_invitation(me, org_id, invitation_id)
    return Response(status_code=204)


@router.get("/invitations/{secret}", response_model=InvitationPreview)
async def preview_invitation(secret: str, c: Ctr) -> InvitationPreview:
    inv, org = await c.orgs.preview_invitation(secret)
    return InvitationPreview(
        org_name=org.name,
        role=inv.role,
        email=inv.email,
        min_age=org.min_age,
    )
