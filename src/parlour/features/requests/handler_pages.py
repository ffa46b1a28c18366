"""The handlers' side of tracked privacy requests (P-RIGHTS-6), in the browser.

The organisation's owners and admins (and, for people without an account, the instance's
owner, as the JSON API allows) list the requests they answer, open one, move it along the
state table and record the answer, which the service mails to the requester. Each action is
one call to `RequestService`, the same as the JSON routes: it decides who may see what (another
organisation's request is 'not found') and which moves the table allows. The service records
every list, view and step in the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from parlour.core.clock import as_utc
from parlour.core.errors import AppError, ErrorCode, invalid, not_found
from parlour.features.accounts.actor import Actor
from parlour.features.audit.pages import display_names, in_a_sentence
from parlour.features.requests.models import PrivacyRequest
from parlour.features.requests.schemas import AnswerIn, StateIn
from parlour.features.requests.service import DEADLINE, REMIND_AFTER
from parlour.features.requests.states import ANSWERING, CLOSED, OPEN, TRANSITIONS, State
from parlour.web.auth import get_container
from parlour.web.forms import kept, notice, parse, render_form, signin_first, text
from parlour.web.pages import redirect, render, signed_in

router = APIRouter(include_in_schema=False)

LIST = "/org/privacy/requests"
LIST_TEMPLATE = "requests/handle_list.html"
ONE_TEMPLATE = "requests/handle_one.html"
# Fewer days than this left: flagged "due soon" (the handlers' reminder goes out then too).
DUE_SOON = DEADLINE - REMIND_AFTER

KINDS = {
    "access": "Access",
    "rectification": "Rectification",
    "erasure": "Erasure",
    "restriction": "Restriction",
    "objection": "Objection",
    "portability": "Portability",
    "question": "Question",
}
STATES = {
    State.RECEIVED: "Waiting for the requester to confirm",
    State.VERIFIED: "Confirmed",
    State.IN_PROGRESS: "In progress",
    State.ANSWERED: "Answered",
    State.REFUSED: "Refused",
    State.WITHDRAWN: "Withdrawn",
}
# The moves a handler makes with a button; answering and refusing go through the answer form,
# and only the requester's code confirms a request.
MOVES = {
    State.IN_PROGRESS: ("Mark in progress", "You are working on it; the deadline stays."),
    State.WITHDRAWN: (
        "Mark withdrawn",
        "The requester no longer wants an answer. This closes the request; nothing is mailed.",
    ),
}
OUTCOMES = [
    ("answered", "Answered: this is the answer to what they asked"),
    ("refused", "Refused: this explains why the request is refused"),
]
NOTICES = {
    "in_progress": "The request is marked in progress.",
    "withdrawn": "The request is marked withdrawn and closed.",
    "answered": "The answer is recorded and mailed to the requester. The request is closed.",
    "refused": "The refusal is recorded and mailed to the requester. The request is closed.",
}
ANSWER_FIELDS = ("answer", "outcome")


@dataclass(frozen=True)
class Due:
    """Where a request stands against its deadline, for the page to flag."""

    at: datetime | None
    overdue: bool
    soon: bool
    days: int  # whole days left (negative: late), for the words next to the date


def due(row: PrivacyRequest, now: datetime) -> Due:
    if row.due_at is None:
        return Due(None, False, False, 0)
    at = as_utc(row.due_at)
    left = at - now
    is_open = State(row.state) in OPEN
    late = is_open and left < timedelta(0)
    soon = is_open and timedelta(0) <= left <= DUE_SOON
    return Due(at, late, soon, left // timedelta(days=1))


def _handler_only(error: AppError) -> AppError:
    """Members who are not admins are told what anyone is told about a page they cannot see."""
    return not_found("page") if error.code is ErrorCode.FORBIDDEN else error


# -- the list -----------------------------------------------------------------------------------


@router.get(LIST)
async def requests_page(request: Request) -> Response:
    actor = await signed_in(request)
    if actor is None:
        return signin_first(request)
    c = get_container(request)
    try:
        rows = await c.requests.for_handler(actor)
    except AppError as error:
        raise _handler_only(error) from error
    now = c.clock.now()
    opened = [r for r in rows if State(r.state) not in CLOSED]
    closed = [r for r in rows if State(r.state) in CLOSED]
    far = datetime.max.replace(tzinfo=now.tzinfo)
    opened.sort(key=lambda r: (as_utc(r.due_at) if r.due_at else far, r.created_at))
    context: dict[str, Any] = {
        "opened": [(r, due(r, now)) for r in opened],
        "closed": [(r, due(r, now)) for r in closed],
        "kinds": KINDS,
        "states": {s.value: label for s, label in STATES.items()},
    }
    return await render(request, LIST_TEMPLATE, **context)


# -- one request --------------------------------------------------------------------------------


async def _one(
    request: Request,
    actor: Actor,
    request_id: str,
    error: AppError | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    c = get_container(request)
    row = await c.requests.view(actor, request_id)  # 'not found' unless theirs to answer
    state = State(row.state)
    allowed = TRANSITIONS[state]
    context: dict[str, Any] = {
        "r": row,
        "due": due(row, c.clock.now()),
        "kinds": KINDS,
        "state_name": STATES[state],
        "moves": [(s.value, *MOVES[s]) for s in MOVES if s in allowed],
        "can_answer": bool(ANSWERING & allowed),
        "outcomes": OUTCOMES,
        "answered_by": in_a_sentence(
            (await display_names(c, actor, [row.answered_by])).get(row.answered_by or "")
        ),
        "values": values or {"outcome": "answered"},
        "notice": notice(request, NOTICES),
        "list": LIST,
    }
    if error is None:
        return await render(request, ONE_TEMPLATE, **context)
    return await render_form(request, ONE_TEMPLATE, error, ANSWER_FIELDS, **context)


def _in_words(error: AppError, target: str) -> AppError:
    """The state table's refusal, said in the page's words; other problems as they are."""
    if error.code is not ErrorCode.REQUEST_STATE:
        return error
    current = STATES.get(State(error.data.get("state", State.RECEIVED)), "closed").lower()
    wanted = {"in_progress": "in progress"}.get(target, target)
    return AppError(
        ErrorCode.REQUEST_STATE,
        f"This request cannot become {wanted}: it is {current} now, and that is not a step the "
        "request's life allows. The page shows what it can become from here.",
        data=error.data,
    )


@router.get(LIST + "/{request_id}")
async def request_page(request: Request, request_id: str) -> Response:
    actor = await signed_in(request)
    if actor is None:
        return signin_first(request)
    return await _one(request, actor, request_id)


@router.post(LIST + "/{request_id}/state")
async def request_move(request: Request, request_id: str) -> Response:
    actor = await signed_in(request)
    if actor is None:
        return signin_first(request)
    form = await request.form()
    target = text(form, "state")
    try:
        body = parse(StateIn, {"state": target})
        await get_container(request).requests.move(actor, request_id, State(body.state))
    except AppError as error:
        if error.code is ErrorCode.NOT_FOUND:
            raise
        return await _one(request, actor, request_id, _in_words(error, target))
    return redirect(f"{LIST}/{request_id}?notice={body.state}")


@router.post(LIST + "/{request_id}/answer")
async def request_answer(request: Request, request_id: str) -> Response:
    actor = await signed_in(request)
    if actor is None:
        return signin_first(request)
    form = await request.form()
    outcome = text(form, "outcome")
    try:
        if outcome not in dict(OUTCOMES):
            raise invalid("outcome", "Choose whether the request is answered or refused.")
        if not text(form, "answer").strip():
            raise invalid("answer", "Write the answer the requester will receive.")
        body = parse(AnswerIn, {"answer": text(form, "answer"), "refuse": outcome == "refused"})
        await get_container(request).requests.answer(
            actor, request_id, body.answer, refuse=body.refuse
        )
    except AppError as error:
        if error.code is ErrorCode.NOT_FOUND:
            raise
        values = kept(form, *ANSWER_FIELDS)
        return await _one(request, actor, request_id, _in_words(error, outcome), values)
    return redirect(f"{LIST}/{request_id}?notice={outcome}")
