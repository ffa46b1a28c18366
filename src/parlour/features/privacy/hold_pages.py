"""Legal holds in the browser: the organisation's owners and admins list them, place one on a
member with the legal reason, and lift one after a confirmation page.

The same `HoldService` calls as `/api/v1/orgs/{org_id}/holds`: it answers 'not found' to
everyone but the organisation's admins, and writes `hold.place` and `hold.lift` to the audit
log. The form's list of members comes from `OrgService.list_members`, as on the organisation
page (listing the members one manages records nothing); the confirmation page names the one
person concerned (see `parlour.features.audit.pages`). A closed account, whose erasure waits,
is offered and shown under its "Deleted user" label like everywhere else.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from parlour.core.errors import AppError, ErrorCode
from parlour.features.accounts.actor import Actor
from parlour.features.accounts.display import ERASED, is_gone, shown_name
from parlour.features.accounts.models import User
from parlour.features.audit.pages import display_names, in_a_sentence
from parlour.features.privacy.models import LegalHold
from parlour.features.privacy.schemas import HoldIn
from parlour.web.auth import get_container
from parlour.web.forms import kept, notice, parse, render_form, signin_first
from parlour.web.pages import redirect, render, signed_in

router = APIRouter(include_in_schema=False)

PAGE = "/org/privacy/holds"
TEMPLATE = "orgs/holds.html"
LIFT_TEMPLATE = "orgs/hold_lift.html"
FIELDS = ("user_id", "reason")
# What the form says for each field it refuses, whatever the schema or service said.
FIELD_MESSAGES = {
    "user_id": "Choose the member whose data must be kept.",
    "reason": "Give the legal reason for the hold, such as a case or a retention duty.",
}
NOTICES = {
    "placed": "The hold is placed: this member's data is kept, even if they delete their account.",
    "lifted": "The hold is lifted.",
    "already-lifted": "That hold was already lifted.",
}


def _on_the_form(error: AppError) -> AppError:
    """Problems said in the form's words: a person who is not a member is a wrong choice."""
    if error.code is ErrorCode.NOT_FOUND and error.detail == "No such user.":
        return AppError(
            ErrorCode.NOT_FOUND,
            "That person is not a member of this organisation.",
            fields={"user_id": FIELD_MESSAGES["user_id"]},
        )
    if error.code is ErrorCode.VALIDATION_FAILED:
        fields = {k: FIELD_MESSAGES.get(k, v) for k, v in error.fields.items()}
        return AppError(error.code, "Some fields need another look.", fields=fields)
    return error


def _choice(member: User) -> tuple[str, str]:
    """A member in the form: a closed account (its erasure pending) by its label alone."""
    return member.id, shown_name(member) if is_gone(member) else f"{member.name} ({member.email})"


async def _page(
    request: Request,
    actor: Actor,
    error: AppError | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    c = get_container(request)
    holds = await c.holds.list(actor, actor.org_id)  # 'not found' unless an admin here
    members = await c.orgs.list_members(actor, actor.org_id)
    names = {m.id: shown_name(m) for m in members}
    context: dict[str, Any] = {
        "active": [h for h in holds if h.released_at is None],
        "lifted": [h for h in holds if h.released_at is not None],
        "choices": [_choice(m) for m in members if m.status != ERASED],
        "names": names,
        "values": values or {},
        "notice": notice(request, NOTICES),
    }
    if error is None:
        return await render(request, TEMPLATE, **context)
    return await render_form(request, TEMPLATE, _on_the_form(error), FIELDS, **context)


@router.get(PAGE)
async def holds_page(request: Request) -> Response:
    actor = await signed_in(request)
    if actor is None:
        return signin_first(request)
    return await _page(request, actor)


@router.post(PAGE)
async def hold_place(request: Request) -> Response:
    actor = await signed_in(request)
    if actor is None:
        return signin_first(request)
    form = await request.form()
    try:
        body = parse(HoldIn, form)
        await get_container(request).holds.place(actor, actor.org_id, body.user_id, body.reason)
    except AppError as error:
        return await _page(request, actor, error, kept(form, *FIELDS))
    return redirect(PAGE + "?notice=placed")


async def _active_hold(request: Request, actor: Actor, hold_id: str) -> LegalHold | None:
    """The hold to lift: None when it is already lifted; 'not found' when it is not ours."""
    for hold in await get_container(request).holds.list(actor, actor.org_id):
        if hold.id == hold_id:
            return hold if hold.released_at is None else None
    raise AppError(ErrorCode.NOT_FOUND, "No such hold.")


@router.get(PAGE + "/{hold_id}/lift")
async def hold_lift_page(request: Request, hold_id: str) -> Response:
    """Asks before lifting: a lifted hold may let a closed account's erasure run at once."""
    actor = await signed_in(request)
    if actor is None:
        return signin_first(request)
    hold = await _active_hold(request, actor, hold_id)
    if hold is None:
        return redirect(PAGE + "?notice=already-lifted")
    names = await display_names(get_container(request), actor, [hold.user_id])
    name = in_a_sentence(names.get(hold.user_id))
    return await render(request, LIFT_TEMPLATE, hold=hold, name=name)


@router.post(PAGE + "/{hold_id}/lift")
async def hold_lift(request: Request, hold_id: str) -> Response:
    actor = await signed_in(request)
    if actor is None:
        return signin_first(request)
    try:
        await get_container(request).holds.lift(actor, actor.org_id, hold_id)
    except AppError as error:
        if error.code is not ErrorCode.NOT_FOUND:
            raise
        if await _active_hold(request, actor, hold_id) is None:  # 'not found' if not ours
            return redirect(PAGE + "?notice=already-lifted")
        raise
    return redirect(PAGE + "?notice=lifted")
