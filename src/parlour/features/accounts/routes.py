"""JSON API of accounts: sign-up, sign-in and out, tokens, sessions, profile, passwords."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Request, UploadFile
from fastapi.responses import Response

from parlour.container import Container
from parlour.core.errors import AppError, ErrorCode
from parlour.features.accounts.actor import Actor
from parlour.features.accounts.display import user_out
from parlour.features.accounts.profile import ProfileChange
from parlour.features.accounts.schemas import (
    EmailChange,
    MeOut,
    PasswordChange,
    ProfileUpdate,
    Reauth,
    ResetConfirm,
    ResetRequest,
    SessionOut,
    SignedIn,
    SignIn,
    SignUp,
    TokenOut,
    TokenRequest,
    UserOut,
)
from parlour.features.accounts.service import NewAccount
from parlour.web.auth import (
    clear_session_cookie,
    client_of,
    csrf_token,
    current_actor,
    get_container,
    set_session_cookie,
)

router = APIRouter(prefix="/api/v1", tags=["accounts"])
Ctr = Annotated[Container, Depends(get_container)]
Me = Annotated[Actor, Depends(current_actor)]


def new_account(body: SignUp) -> NewAccount:
    return NewAccount(
        name=body.name,
        email=str(body.email),
        password=body.password,
        birth_date=body.birth_date,
        accept_policy=body.accept_policy,
        phone=body.phone,
        title=body.title,
        department=body.department,
        location=body.location,
    )


@router.post("/auth/signup", status_code=201, response_model=SignedIn)
async def sign_up(body: SignUp, request: Request, response: Response, c: Ctr) -> SignedIn:
    joined = await c.orgs.join(body.invitation, new_account(body), client_of(request))
    set_session_cookie(response, c, joined.session_secret)
    actor = await c.accounts.authenticate(joined.session_secret, "cookie")
    assert actor is not None  # noqa: S101 - just created
    return SignedIn(user=user_out(joined.user), csrf_token=csrf_token(c, actor.session_id))


@router.post("/auth/signin", response_model=SignedIn)
async def sign_in(body: SignIn, request: Request, response: Response, c: Ctr) -> SignedIn:
    user, auth, secret = await c.accounts.sign_in(
        str(body.email), body.password, client_of(request)
    )
    set_session_cookie(response, c, secret)
    return SignedIn(user=user_out(user), csrf_token=csrf_token(c, auth.id))


@router.post("/auth/signout", status_code=204)
async def sign_out(me: Me, c: Ctr) -> Response:
    await c.accounts.sign_out(me)
    response = Response(status_code=204)
    clear_session_cookie(response, c)
    return response


@router.post("/auth/tokens", status_code=201, response_model=TokenOut)
async def create_token(body: TokenRequest, request: Request, c: Ctr) -> TokenOut:
    auth, secret = await c.accounts.create_token(
        str(body.email), body.password, body.name, client_of(request)
    )
    return TokenOut(id=auth.id, token=secret, expires_at=auth.expires_at)


@router.post("/auth/reauthenticate", status_code=204)
async def reauthenticate(body: Reauth, me: Me, c: Ctr) -> Response:
    await c.accounts.reauthenticate(me, body.password)
    return Response(status_code=204)


@router.post("/auth/password-reset", status_code=202)
async def request_reset(body: ResetRequest, c: Ctr) -> dict[str, str]:
    await c.accounts.request_reset(str(body.email))
    return {"detail": "If an account uses this address, a reset link is on its way."}


@router.post("/auth/password-reset/confirm", status_code=204)
async def confirm_reset(body: ResetConfirm, c: Ctr) -> Response:
    await c.accounts.confirm_reset(body.token, body.new_password)
    return Response(status_code=204)


@router.get("/me", response_model=MeOut)
async def me(me: Me, c: Ctr) -> MeOut:
    user = await c.profiles.me(me)
    token = csrf_token(c, me.session_id) if me.via == "cookie" else None
    return MeOut(**user_out(user).model_dump(), csrf_token=token)


@router.patch("/me", response_model=UserOut)
async def update_me(body: ProfileUpdate, me: Me, c: Ctr) -> UserOut:
    values = body.model_dump(exclude_unset=True)
    if "name" in values and values["name"] is None:
        raise AppError(
            ErrorCode.VALIDATION_FAILED, "Your name cannot be empty.", fields={"name": "required"}
        )
    user = await c.profiles.update(me, ProfileChange(values))
    return user_out(user)


@router.post("/me/email", response_model=UserOut)
async def change_email(body: EmailChange, me: Me, c: Ctr) -> UserOut:
    user = await c.profiles.change_email(me, body.password, str(body.email))
    return user_out(user)


@router.post("/me/password", status_code=204)
async def change_password(body: PasswordChange, me: Me, c: Ctr) -> Response:
    await c.accounts.change_password(me, body.current_password, body.new_password)
    return Response(status_code=204)


@router.put("/me/avatar", response_model=UserOut)
async def set_avatar(me: Me, c: Ctr, avatar: Annotated[UploadFile, File()]) -> UserOut:
    data = await avatar.read(c.settings.avatar_max_bytes + 1)
    user = await c.profiles.set_avatar(me, data)
    return user_out(user)


@router.delete("/me/avatar", status_code=204)
async def remove_avatar(me: Me, c: Ctr) -> Response:
    await c.profiles.remove_avatar(me)
    return Response(status_code=204)


@router.get("/users/{user_id}", response_model=UserOut)
async def get_user(user_id: str, me: Me, c: Ctr) -> UserOut:
    return user_out(await c.profiles.access_user(me, user_id))


@router.get("/users/{user_id}/avatar", response_class=Response)
async def get_avatar(user_id: str, me: Me, c: Ctr) -> Response:
    data = await c.profiles.avatar(me, user_id)
    return Response(data, media_type="image/png", headers={"Cache-Control": "private, max-age=300"})


@router.get("/me/sessions", response_model=list[SessionOut])
async def list_sessions(me: Me, c: Ctr) -> list[SessionOut]:
    sessions = await c.accounts.list_sessions(me)
    return [
        SessionOut(
            id=s.id,
            kind=s.kind,
            label=s.label,
            ip_prefix=s.ip_prefix,
            created_at=s.created_at,
            last_seen_at=s.last_seen_at,
            expires_at=s.expires_at,
            current=s.id == me.session_id,
        )
        for s in sessions
    ]


@router.delete("/me/sessions/{session_id}", status_code=204)
async def revoke_session(session_id: str, me: Me, c: Ctr) -> Response:
    await c.accounts.revoke_session(me, session_id)
    response = Response(status_code=204)
    if session_id == me.session_id and me.via == "cookie":
        clear_session_cookie(response, c)
    return response
