"""JSON API of accounts: sign-up, sign-in and out, tokens, sessions, profile, passwords."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Request, UploadFile
from fastapi.responses import Response
from pydantic import TypeAdapter, ValidationError

from parlour.container import Container
from parlour.core.errors import AppError, ErrorCode, invalid
from parlour.core.passwords import password_problem
from parlour.features.accounts.actor import Actor
from parlour.features.accounts.models import User
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
from parlour.features.orgs.models import Invitation, Organisation
from parlour.web.auth import (
    clear_session_cookie,
    client_of,
    csrf_token,
    current_actor,
    get_container,
    set_session_cookie,
)
from parlour.web.forms import validate
from parlour.web.validation import message

router = APIRouter(prefix="/api/v1", tags=["accounts"])
Ctr = Annotated[Container, Depends(get_container)]
Me = Annotated[Actor, Depends(current_actor)]


def user_out(user: User) -> UserOut:
    return UserOut(
        id=user.id,
        org_id=user.org_id,
        name=user.name,
        email=user.email,
        role=user.role,
        status=user.status,
        is_instance_owner=user.is_instance_owner,
        phone=user.phone,
        title=user.title,
        department=user.department,
        location=user.location,
        has_avatar=user.avatar_key is not None,
        created_at=user.created_at,
    )


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


# -- sign-up: every problem at once -----------------------------------------------------------

_DATE = TypeAdapter(date)


async def check_signup(c: Container, data: Mapping[str, Any]) -> SignUp:
    """The valid sign-up, or one error naming every field to fix, for the page and the API.

    The schema's checks and the rules that need the invitation (age, password strength, the
    invited address, the policy version) all run first; the services check the rules again.
    """
    body, fields = validate(SignUp, data)
    rules = {k: v for k, v in (await _rules(c, data, fields)).items() if k not in fields}
    if body is not None and not rules:
        return body
    if not fields and len(rules) == 1:
        raise next(iter(rules.values()))  # alone, a rule keeps its own code (weak_password, ...)
    fields.update({k: v.fields.get(k, v.detail) for k, v in rules.items()})
    ordered = {k: fields[k] for k in SignUp.model_fields if k in fields}
    raise AppError(ErrorCode.VALIDATION_FAILED, "Some fields need another look.", fields=ordered)


async def _rules(
    c: Container, data: Mapping[str, Any], fields: dict[str, str]
) -> dict[str, AppError]:
    """The rules' problems; an unusable invitation is the answer only when the form is fine."""
    if "invitation" in fields:
        return {}
    try:
        invitation, org = await c.orgs.preview_invitation(str(data["invitation"]))
    except AppError:
        if fields:
            return {}
        raise
    return _rule_problems(c, data, invitation, org)


def _rule_problems(
    c: Container, data: Mapping[str, Any], invitation: Invitation, org: Organisation
) -> dict[str, AppError]:
    found: dict[str, AppError] = {}
    password, email, accepted = (data.get(k) for k in ("password", "email", "accept_policy"))
    weak = password_problem(password) if isinstance(password, str) and password else None
    if weak:
        found["password"] = invalid("password", weak, ErrorCode.WEAK_PASSWORD)
    born = _date_or_none(data.get("birth_date"))
    try:
        if born is not None:
            c.accounts.check_age(born, org.min_age)
    except AppError as error:
        found["birth_date"] = error
    if invitation.email and isinstance(email, str) and email.strip().lower() != invitation.email:
        found["email"] = invalid("email", "Use the address the invitation was sent to.")
    version = c.policy.current().version
    if isinstance(accepted, str) and accepted and accepted != version:
        found["accept_policy"] = AppError(
            ErrorCode.POLICY_NOT_ACCEPTED,
            f"Read and accept privacy policy version {version} to continue.",
            fields={"accept_policy": "Accept the current privacy policy."},
        )
    return found


def _date_or_none(value: Any) -> date | None:
    try:
        return _DATE.validate_python(value)
    except ValidationError:
        return None


async def every_signup_problem(request: Request, c: Ctr) -> None:
    """Runs before FastAPI's own check of the body, so one answer names every problem."""
    try:
        data = await request.json()  # parsed by FastAPI already, and kept by the request
    except ValueError:
        return  # not JSON: FastAPI's own check answers that
    if not isinstance(data, dict):
        return
    try:
        await check_signup(c, data)
    except AppError as error:
        extra = {k: NOT_PART for k in data if k not in SignUp.model_fields}
        if not extra or not error.fields:  # an unusable invitation stays the answer
            raise
        fields = {**error.fields, **extra}
        detail = "Some fields need another look."
        raise AppError(ErrorCode.VALIDATION_FAILED, detail, fields=fields) from error


NOT_PART = message({"type": "extra_forbidden"})


@router.post(
    "/auth/signup",
    status_code=201,
    response_model=SignedIn,
    dependencies=[Depends(every_signup_problem)],
)
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
