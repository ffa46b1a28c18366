"""JSON API of consents (/api/v1/me/consents) and the Global Privacy Control statement."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from parlour.container import Container
from parlour.core.datamap import PURPOSES, LegalBasis
from parlour.core.errors import AppError, ErrorCode
from parlour.features.accounts.actor import Actor
from parlour.features.consent.pages import signals_of, subject_of
from parlour.features.consent.schemas import (
    ChangesIn,
    ConsentsOut,
    DesiredIn,
    EntryOut,
    PurposeOut,
    SignalsOut,
    StateIn,
)
from parlour.features.consent.service import Change, ConsentState, PurposeState
from parlour.web.auth import current_actor, get_container

router = APIRouter(prefix="/api/v1/me/consents", tags=["privacy"])
well_known = APIRouter(tags=["privacy"])
Ctr = Annotated[Container, Depends(get_container)]
Me = Annotated[Actor, Depends(current_actor)]

# The day Parlour began honouring the signal; change it when the handling changes.
GPC_SINCE = "2026-11-25"


def _purpose_out(p: PurposeState) -> PurposeOut:
    return PurposeOut(
        key=p.purpose.key,
        name=p.purpose.name,
        description=p.purpose.description,
        legal_basis=p.purpose.basis.value,
        essential=p.purpose.essential,
        consent=p.consent,
        consent_policy_version=p.consent_version,
        restricted=p.restricted,
        objected=p.objected,
        allowed=p.allowed,
    )


def consents_out(state: ConsentState, request: Request) -> ConsentsOut:
    signals = signals_of(request)
    return ConsentsOut(
        policy_version=state.policy_version,
        signals=SignalsOut(gpc=signals.gpc, dnt=signals.dnt),
        chosen=state.chosen,
        purposes=[_purpose_out(p) for p in state.purposes],
        history=[
            EntryOut(
                purpose=e.purpose,
                kind=e.kind,
                decision=e.decision,
                policy_version=e.policy_version,
                how=e.how,
                at=e.recorded_at,
            )
            for e in state.history
        ],
    )


@router.get("", response_model=ConsentsOut)
async def my_consents(request: Request, me: Me, c: Ctr) -> ConsentsOut:
    """Every purpose with its legal basis and your current state, and the full history."""
    return consents_out(await c.consent.state(subject_of(request, me)), request)


@router.post("", response_model=ConsentsOut)
async def change_consents(body: ChangesIn, request: Request, me: Me, c: Ctr) -> ConsentsOut:
    """Appends one ledger entry per change (give, withdraw, restrict, object, and back)."""
    changes = [Change(ch.purpose, ch.action) for ch in body.changes]
    return consents_out(await c.consent.change(subject_of(request, me), changes, "api"), request)


@router.put("", response_model=ConsentsOut)
async def set_consents(body: StateIn, request: Request, me: Me, c: Ctr) -> ConsentsOut:
    """Sets the wanted state per purpose; only what differs from now is recorded."""
    subject = subject_of(request, me)
    now = {p.purpose.key: p for p in (await c.consent.state(subject)).purposes}
    changes = [ch for key, want in body.purposes.items() for ch in _diff(key, want, now)]
    if not changes:
        return consents_out(await c.consent.state(subject), request)
    return consents_out(await c.consent.change(subject, changes, "api"), request)


def _diff(key: str, want: DesiredIn, now: dict[str, PurposeState]) -> list[Change]:
    current = now.get(key)
    if current is None:
        raise AppError(
            ErrorCode.VALIDATION_FAILED,
            f"There is no purpose called {key!r}.",
            fields={f"purposes.{key}": "unknown purpose"},
        )
    if want.consent is not None and PURPOSES[key].basis is not LegalBasis.CONSENT:
        raise AppError(
            ErrorCode.VALIDATION_FAILED,
            f"{current.purpose.name} does not rest on consent; object to it instead.",
            fields={f"purposes.{key}.consent": "not a consent purpose"},
        )
    changes: list[Change] = []
    if want.consent is not None and want.consent != (current.consent == "given"):
        changes.append(Change(key, "give" if want.consent else "withdraw"))
    if want.restricted is not None and want.restricted != current.restricted:
        changes.append(Change(key, "restrict" if want.restricted else "unrestrict"))
    if want.objected is not None and want.objected != current.objected:
        changes.append(Change(key, "object" if want.objected else "unobject"))
    return changes


@well_known.get("/.well-known/gpc.json")
async def gpc_statement() -> dict[str, object]:
    """Global Privacy Control: this site honours the signal (as an opt-out of targeting and
    analytics)."""
    return {"gpc": True, "lastUpdate": GPC_SINCE}
