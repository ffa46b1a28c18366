"""JSON API of two-factor sign-in: the person's factors, passkeys at sign-in, the org rule."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from parlour.container import Container
from parlour.features.accounts.actor import Actor
from parlour.features.mfa.models import Passkey
from parlour.features.mfa.schemas import (
    CodeIn,
    EnrolmentOut,
    PasskeyAdded,
    PasskeyIn,
    PasskeyOut,
    PasskeySignIn,
    PasswordIn,
    RecoveryCodesOut,
    RequirementIn,
    RequirementOut,
    SignedInRedirect,
    StatusOut,
)
from parlour.web.auth import (
    check_second_step_csrf,
    clear_second_step_cookie,
    client_of,
    current_actor,
    get_container,
    second_step_of,
    set_session_cookie,
)
from parlour.web.forms import local_path

router = APIRouter(prefix="/api/v1", tags=["two-factor"])
Ctr = Annotated[Container, Depends(get_container)]
Me = Annotated[Actor, Depends(current_actor)]
BASE = "/me/second-factor"


def passkey_out(p: Passkey) -> PasskeyOut:
    return PasskeyOut(id=p.id, name=p.name, created_at=p.created_at, last_used_at=p.last_used_at)


def json_text(body: str) -> Response:
    return Response(body, media_type="application/json", headers={"cache-control": "no-store"})


@router.get(BASE, response_model=StatusOut)
async def status(me: Me, c: Ctr) -> StatusOut:
    s = await c.mfa.status(me)
    return StatusOut(
        totp=s.totp,
        recovery_codes_left=s.recovery_left,
        passkeys=[passkey_out(p) for p in s.passkeys],
        required_by_organisation=s.required_by_org,
    )


@router.post(BASE + "/totp", status_code=201, response_model=EnrolmentOut)
async def start_totp(me: Me, c: Ctr) -> EnrolmentOut:
    enrolment = await c.mfa.start_totp(me)
    return EnrolmentOut(secret=enrolment.secret, uri=enrolment.uri)


@router.post(BASE + "/totp/confirm", response_model=RecoveryCodesOut)
async def confirm_totp(body: CodeIn, me: Me, c: Ctr) -> RecoveryCodesOut:
    return RecoveryCodesOut(recovery_codes=await c.mfa.confirm_totp(me, body.code))


@router.post(BASE + "/totp/disable", status_code=204)
async def disable_totp(body: PasswordIn, me: Me, c: Ctr) -> Response:
    await c.mfa.disable_totp(me, body.password)
    return Response(status_code=204)


@router.post(BASE + "/recovery-codes", response_model=RecoveryCodesOut)
async def regenerate(body: PasswordIn, me: Me, c: Ctr) -> RecoveryCodesOut:
    return RecoveryCodesOut(recovery_codes=await c.mfa.regenerate_recovery(me, body.password))


@router.post(BASE + "/passkeys/options")
async def passkey_options(me: Me, c: Ctr) -> Response:
    """PublicKeyCredentialCreationOptions for navigator.credentials.create(), as JSON."""
    return json_text(await c.passkeys.registration_options(me))


@router.post(BASE + "/passkeys", status_code=201, response_model=PasskeyAdded)
async def add_passkey(body: PasskeyIn, me: Me, c: Ctr) -> PasskeyAdded:
    passkey, fresh = await c.passkeys.add(me, body.name, body.credential)
    return PasskeyAdded(passkey=passkey_out(passkey), recovery_codes=fresh)


@router.post(BASE + "/passkeys/{passkey_id}/remove", status_code=204)
async def remove_passkey(passkey_id: str, body: PasswordIn, me: Me, c: Ctr) -> Response:
    await c.passkeys.remove(me, passkey_id, body.password)
    return Response(status_code=204)


# -- a passkey as the second step of a browser sign-in (after /signin's password) -------------


@router.post("/auth/second-step/passkey/options")
async def signin_passkey_options(request: Request, c: Ctr) -> Response:
    check_second_step_csrf(request)
    return json_text(await c.passkeys.signin_options(second_step_of(request, c)))


@router.post("/auth/second-step/passkey", response_model=SignedInRedirect)
async def signin_passkey(
    body: PasskeySignIn, request: Request, response: Response, c: Ctr
) -> SignedInRedirect:
    check_second_step_csrf(request)
    step = second_step_of(request, c)
    _user, _auth, secret = await c.passkeys.finish_signin(step, body.credential, client_of(request))
    set_session_cookie(response, c, secret)
    clear_second_step_cookie(response, c)
    return SignedInRedirect(redirect=local_path(body.next))


# -- the organisation's rule ------------------------------------------------------------------


@router.put("/orgs/{org_id}/second-factor", response_model=RequirementOut)
async def set_requirement(org_id: str, body: RequirementIn, me: Me, c: Ctr) -> RequirementOut:
    return RequirementOut(required=await c.mfa.set_org_requirement(me, org_id, body.required))
