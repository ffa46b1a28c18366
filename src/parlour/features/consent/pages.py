"""The cookie banner, the privacy centre and the cookie list; who the subject of a request is.

The banner is a plain form: it works without JavaScript (a POST and a redirect back), and
static/consent.js only saves the round trip. The choice goes to the ledger and into the strictly
necessary cookie ``parlour_consent``: a signed random visitor id, the policy version and the
purposes consented to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from itsdangerous import BadSignature, Signer
from starlette.responses import JSONResponse, Response

from parlour.container import Container
from parlour.core.datamap import PURPOSES, LegalBasis, Purpose
from parlour.core.errors import AppError, ErrorCode
from parlour.core.ids import new_id
from parlour.features.accounts.actor import Actor
from parlour.features.consent import cookies
from parlour.features.consent.rules import ACTIONS, DataSubject, Signals, consent_purposes
from parlour.features.consent.service import Change
from parlour.web.auth import get_container
from parlour.web.pages import check_visitor_form, redirect, render, signed_in

router = APIRouter(include_in_schema=False)

BASIS_TEXT = {
    LegalBasis.CONSENT: "your consent",
    LegalBasis.CONTRACT: "our contract with you",
    LegalBasis.LEGAL_OBLIGATION: "a legal obligation",
    LegalBasis.LEGITIMATE_INTEREST: "our legitimate interest",
}
ACTION_TEXT = {
    "give": "consent given",
    "withdraw": "consent withdrawn",
    "restrict": "processing restricted",
    "unrestrict": "restriction lifted",
    "object": "objection recorded",
    "unobject": "objection withdrawn",
}
CHOICES = ("accept_all", "reject_all", "custom")


# -- the subject of a request ------------------------------------------------------------


@dataclass(frozen=True)
class CookieChoice:
    visitor_id: str
    policy_version: str
    given: frozenset[str]


def signals_of(request: Request) -> Signals:
    headers = request.headers
    return Signals(gpc=headers.get("sec-gpc") == "1", dnt=headers.get("dnt") == "1")


def _signer(container: Container) -> Signer:
    return Signer(container.secret_key, salt="parlour.consent")


def read_choice(request: Request) -> CookieChoice | None:
    raw = request.cookies.get(cookies.CONSENT)
    if not raw:
        return None
    try:
        value = _signer(get_container(request)).unsign(raw).decode()
    except BadSignature:
        return None
    visitor_id, _, rest = value.partition("~")
    version, _, given = rest.partition("~")
    if len(visitor_id) != 32 or not version:
        return None
    return CookieChoice(visitor_id, version, frozenset(filter(None, given.split("+"))))


def subject_of(request: Request, actor: Actor | None) -> DataSubject:
    choice = read_choice(request)
    return DataSubject(
        user_id=actor.user_id if actor else None,
        visitor_id=choice.visitor_id if choice else None,
        signals=signals_of(request),
    )


def set_choice_cookie(response: Response, container: Container, choice: CookieChoice) -> None:
    value = f"{choice.visitor_id}~{choice.policy_version}~{'+'.join(sorted(choice.given))}"
    settings = container.settings
    response.set_cookie(
        cookies.CONSENT,
        _signer(container).sign(value).decode(),
        max_age=settings.consent_days * 86400,
        httponly=True,
        secure=settings.secure_cookies,
        samesite="lax",
        path="/",
    )


# -- on every page -----------------------------------------------------------------------


@dataclass(frozen=True)
class BannerView:
    banner: bool
    purposes: list[Purpose]
    signals: Signals
    next: str


async def page_context(request: Request, actor: Actor | None) -> dict[str, Any]:
    """Records browser opt-out signals, decides on the banner, and counts the view if allowed."""
    container = get_container(request)
    subject = subject_of(request, actor)
    await container.consent.observe_signals(subject)
    chosen = await _chosen(request, container, subject)
    route = request.scope.get("route")
    if route is not None and request.method == "GET":
        await container.analytics.count_page_view(subject, getattr(route, "path", "?"))
    view = BannerView(not chosen, consent_purposes(), subject.signals, request.url.path)
    return {"consent": view}


async def _chosen(request: Request, container: Container, subject: DataSubject) -> bool:
    choice = read_choice(request)
    current = container.consent.policy_version()
    carried = choice is not None and choice.policy_version == current
    if subject.user_id is None:
        return carried
    if await container.consent.has_chosen(subject):
        return True
    if carried and choice is not None:
        # This person chose in this browser before signing in: that choice is theirs.
        await container.consent.record_choice(subject, set(choice.given), "banner")
        return True
    return False


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.state.page_hooks = [*getattr(app.state, "page_hooks", []), page_context]


# -- the banner's form -------------------------------------------------------------------


@router.post("/consent/cookies")
async def choose_cookies(request: Request) -> Response:
    actor = await signed_in(request)
    if actor is None:
        await check_visitor_form(request)
    form = await request.form()
    given = _given(str(form.get("choice", "")), [str(v) for v in form.getlist("purpose")])
    container = get_container(request)
    previous = read_choice(request)
    visitor_id = previous.visitor_id if previous else new_id()
    subject = DataSubject(
        user_id=actor.user_id if actor else None,
        visitor_id=visitor_id,
        signals=signals_of(request),
    )
    await container.consent.record_choice(subject, given, "banner")
    version = container.consent.policy_version()
    response: Response
    if "application/json" in request.headers.get("accept", ""):
        response = JSONResponse({"chosen": True, "given": sorted(given)})
    else:
        response = redirect(_local(str(form.get("next", "/"))))
    set_choice_cookie(response, container, CookieChoice(visitor_id, version, frozenset(given)))
    return response


def _given(choice: str, picked: list[str]) -> set[str]:
    keys = {p.key for p in consent_purposes()}
    if choice == "accept_all":
        return keys
    if choice == "reject_all":
        return set()
    if choice == "custom" and set(picked) <= keys:
        return set(picked)
    raise AppError(
        ErrorCode.VALIDATION_FAILED,
        "Choose Accept all, Reject all, or the purposes you agree to.",
        fields={"choice": "unknown choice"},
    )


def _local(path: str) -> str:
    """Only a path on this site: never another host (no open redirect)."""
    if path.startswith("/") and not path.startswith(("//", "/\\")):
        return path
    return "/"


# -- the privacy centre ------------------------------------------------------------------


@router.get("/privacy/centre")
async def privacy_centre(request: Request, done: str = "") -> Response:
    actor = await signed_in(request)
    if actor is None:
        raise AppError(ErrorCode.UNAUTHENTICATED, "Sign in to see your privacy choices.")
    container = get_container(request)
    state = await container.consent.state(subject_of(request, actor))
    return await render(
        request,
        "consent/centre.html",
        state=state,
        history=list(reversed(state.history)),
        purposes=PURPOSES,
        basis_text=BASIS_TEXT,
        signals=signals_of(request),
        notice=_notice(done),
    )


@router.post("/privacy/centre")
async def change_in_centre(request: Request) -> Response:
    actor = await signed_in(request)
    if actor is None:
        raise AppError(ErrorCode.UNAUTHENTICATED, "Sign in to change your privacy choices.")
    form = await request.form()
    change = Change(str(form.get("purpose", "")), str(form.get("action", "")))
    await get_container(request).consent.change(subject_of(request, actor), [change], "settings")
    return redirect(f"/privacy/centre?done={change.purpose}.{change.action}")


def _notice(done: str) -> str | None:
    key, _, action = done.partition(".")
    purpose = PURPOSES.get(key)
    if purpose is None or action not in ACTIONS:
        return None
    return f"{purpose.name}: {ACTION_TEXT[action]}."


# -- the cookie list ---------------------------------------------------------------------


@router.get("/privacy/cookies")
async def cookie_list(request: Request) -> Response:
    container = get_container(request)
    settings = container.settings
    return await render(
        request,
        "consent/cookies.html",
        cookies=cookies.registry(settings.session_days, settings.consent_days),
        categories=list(cookies.CATEGORIES.values()),
        purposes=PURPOSES,
        choice=read_choice(request),
    )
