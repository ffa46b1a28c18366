"""Purposes, the consent ledger, restriction and objection, and the one processing gate."""

from __future__ import annotations

import ast
import inspect
from datetime import date, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from parlour.container import Container
from parlour.core.clock import FixedClock
from parlour.core.datamap import PURPOSES, LegalBasis
from parlour.db.engine import create_engine
from parlour.db.uow import Database
from parlour.features.consent import service as consent_service
from parlour.features.consent import store as consent_store
from parlour.features.consent.models import ConsentEntry
from parlour.features.consent.rules import DataSubject, Signals
from parlour.features.consent.service import Change, ConsentService
from parlour.features.privacy import policy
from tests.conftest import make_client
from tests.support.live import serving, stream
from tests.support.world import (
    PASSWORD,
    Person,
    direct,
    instance_owner,
    member,
    say,
    token_for,
)

REPO = Path(__file__).resolve().parents[2]
OPTIONAL = [p for p in PURPOSES.values() if not p.essential]


async def consents(person: Person) -> dict[str, object]:
    response = await person.http.get("/api/v1/me/consents")
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def act(person: Person, purpose: str, action: str) -> dict[str, object]:
    body = {"changes": [{"purpose": purpose, "action": action}]}
    response = await person.http.post("/api/v1/me/consents", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, object] = response.json()
    return result


def purpose_row(state: dict[str, object], key: str) -> dict[str, object]:
    rows = state["purposes"]
    assert isinstance(rows, list)
    row: dict[str, object] = next(r for r in rows if r["key"] == key)
    return row


async def ledger(container: Container) -> list[ConsentEntry]:
    async with container.db.transaction() as uow:
        return list(await uow.session.scalars(select(ConsentEntry).order_by(ConsentEntry.id)))


# -- P-CNS-1: every purpose has a declared legal basis; consent comes first ------------------


@pytest.mark.promise("P-CNS-1")
def test_every_purpose_declares_a_basis_and_consent_purposes_are_optional() -> None:
    for purpose in PURPOSES.values():
        assert isinstance(purpose.basis, LegalBasis), purpose
        assert purpose.description and purpose.name, purpose
        if purpose.basis is LegalBasis.CONSENT:
            assert not purpose.essential, f"{purpose.key} rests on consent, so it is optional"
    documented = (REPO / "docs" / "data-map.md").read_text(encoding="utf-8")
    missing = [key for key in PURPOSES if f"`{key}`" not in documented]
    assert not missing, f"docs/data-map.md does not list these purposes: {missing}"


@pytest.mark.promise("P-CNS-1")
async def test_nothing_is_processed_for_a_consent_purpose_before_consent(
    app: FastAPI, container: Container
) -> None:
    owner = await instance_owner(app, container)
    subject = DataSubject(user_id=owner.id)
    for purpose in OPTIONAL:
        if purpose.basis is LegalBasis.CONSENT:
            assert not await container.consent.may_process(subject, purpose.key)
    assert await container.consent.may_process(subject, "provide_service")
    for _ in range(3):
        assert (await owner.http.get("/privacy/centre")).status_code == 200
    assert await container.analytics.views_today() == {}
    state = await consents(owner)
    assert {r["key"]: r["legal_basis"] for r in state["purposes"]} == {  # type: ignore[attr-defined]
        p.key: p.basis.value for p in PURPOSES.values()
    }


# -- P-CNS-2: an append-only ledger; withdrawing is as easy as giving ------------------------


@pytest.mark.promise("P-CNS-2")
async def test_the_ledger_only_grows_and_the_latest_entry_is_the_state(
    app: FastAPI, container: Container
) -> None:
    owner = await instance_owner(app, container)
    await act(owner, "analytics", "give")
    first = [(e.id, e.decision, e.recorded_at) for e in await ledger(container)]
    await act(owner, "analytics", "withdraw")
    state = await act(owner, "analytics", "give")
    entries = await ledger(container)
    assert [(e.id, e.decision, e.recorded_at) for e in entries[:1]] == first
    assert [e.decision for e in entries] == ["given", "withdrawn", "given"]
    for entry in entries:
        assert entry.user_id == owner.id and entry.visitor_id is None
        assert entry.purpose == "analytics" and entry.kind == "consent"
        assert entry.policy_version == policy.VERSIONS[-1].version
        assert entry.how == "api" and entry.recorded_at is not None
    assert purpose_row(state, "analytics")["consent"] == "given"
    history = state["history"]
    assert isinstance(history, list) and [h["decision"] for h in history] == [
        "given",
        "withdrawn",
        "given",
    ]


@pytest.mark.promise("P-CNS-2")
def test_the_ledger_code_has_no_way_to_change_or_delete_an_entry() -> None:
    """The store and the service append and read; no update or delete statement exists."""
    for module in (consent_store, consent_service):
        tree = ast.parse(inspect.getsource(module))
        names = {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
            for alias in node.names
        }
        assert not names & {"update", "delete", "Update", "Delete"}, module.__name__
        calls = {
            node.func.attr
            for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        }
        assert not calls & {"delete", "update", "merge", "execute"}, module.__name__
    public = [n for n in dir(ConsentService) if not n.startswith("_")]
    assert not [n for n in public if any(w in n for w in ("update", "delete", "edit", "erase"))]


@pytest.mark.promise("P-CNS-2")
async def test_withdrawing_in_the_centre_takes_one_click_like_giving(
    app: FastAPI, container: Container
) -> None:
    owner = await instance_owner(app, container)
    page = await owner.http.get("/privacy/centre")
    assert 'name="action" value="give"' in page.text
    given = await owner.http.post(
        "/privacy/centre", data={"purpose": "marketing", "action": "give"}
    )
    assert given.status_code == 303
    page = await owner.http.get(given.headers["location"])
    assert "News and offers: consent given." in page.text
    assert 'name="action" value="withdraw"' in page.text
    withdrawn = await owner.http.post(
        "/privacy/centre", data={"purpose": "marketing", "action": "withdraw"}
    )
    assert withdrawn.status_code == 303
    assert [(e.decision, e.how) for e in await ledger(container)] == [
        ("given", "settings"),
        ("withdrawn", "settings"),
    ]
    page = await owner.http.get("/privacy/centre")
    assert "privacy centre" in page.text and page.text.count("<tr>") >= 3


@pytest.mark.promise("P-CNS-2")
async def test_consent_under_an_older_policy_no_longer_counts(
    app: FastAPI, container: Container, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = await instance_owner(app, container)
    await act(owner, "analytics", "give")
    subject = DataSubject(user_id=owner.id)
    assert await container.consent.may_process(subject, "analytics")
    newer = policy.PolicyVersion("2099-01-01", date(2099, 1, 1), True, "A material change.")
    monkeypatch.setattr(policy, "VERSIONS", (*policy.VERSIONS, newer))
    clock.advance(timedelta(days=(date(2099, 1, 2) - clock.now().date()).days))
    assert not await container.consent.may_process(subject, "analytics")
    assert not await container.consent.has_chosen(subject)
    state = await container.consent.state(subject)  # the session itself has long expired
    [analytics] = [p for p in state.purposes if p.purpose.key == "analytics"]
    assert analytics.consent == "given" and not analytics.allowed and not state.chosen


# -- the gate fails closed -----------------------------------------------------------------


async def test_the_gate_says_no_on_an_unknown_purpose_an_unknown_subject_or_an_error(
    container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    someone = DataSubject(user_id="0" * 32)
    assert not await container.consent.may_process(someone, "no_such_purpose")
    assert not await container.consent.may_process(DataSubject(), "analytics")
    assert not await container.consent.may_process(DataSubject(), "service_quality")
    broken = ConsentService(
        Database(create_engine(f"sqlite+aiosqlite:///{tmp_path}/missing/none.db")), clock
    )
    assert not await broken.may_process(someone, "service_quality")
    assert await broken.may_process(someone, "provide_service")  # essential: no ledger needed


# -- P-RIGHTS-5: restriction and objection stop processing at once ---------------------------


@pytest.mark.promise("P-RIGHTS-5")
async def test_restricting_analytics_stops_the_page_view_count_at_once(
    app: FastAPI, container: Container
) -> None:
    owner = await instance_owner(app, container)
    await act(owner, "analytics", "give")
    assert (await owner.http.get("/privacy/centre")).status_code == 200
    assert await container.analytics.views_today() == {"/privacy/centre": 1}
    # The same request that records the restriction already answers with the gate closed.
    response = await owner.http.put(
        "/api/v1/me/consents", json={"purposes": {"analytics": {"restricted": True}}}
    )
    assert response.status_code == 200, response.text
    row = purpose_row(response.json(), "analytics")
    assert row["restricted"] is True and row["allowed"] is False and row["consent"] == "given"
    for _ in range(3):
        assert (await owner.http.get("/privacy/centre")).status_code == 200
    assert await container.analytics.views_today() == {"/privacy/centre": 1}
    # Lifting it resumes counting, from the next view on.
    await act(owner, "analytics", "unrestrict")
    await owner.http.get("/privacy/centre")
    assert await container.analytics.views_today() == {"/privacy/centre": 2}


@pytest.mark.promise("P-RIGHTS-5")
async def test_the_restrict_button_in_the_centre_stops_counting_on_the_next_page(
    app: FastAPI, container: Container
) -> None:
    owner = await instance_owner(app, container)
    await act(owner, "analytics", "give")
    restricted = await owner.http.post(
        "/privacy/centre", data={"purpose": "analytics", "action": "restrict"}
    )
    assert restricted.status_code == 303
    page = await owner.http.get(restricted.headers["location"])
    assert "Usage analytics: processing restricted." in page.text
    assert await container.analytics.views_today() == {}
    assert [(e.kind, e.decision) for e in await ledger(container)][-1] == ("restriction", "set")


@pytest.mark.promise("P-RIGHTS-5")
async def test_an_objection_stops_legitimate_interest_processing(
    app: FastAPI, container: Container
) -> None:
    owner = await instance_owner(app, container)
    subject = DataSubject(user_id=owner.id)
    assert await container.consent.may_process(subject, "service_quality")
    state = await act(owner, "service_quality", "object")
    assert purpose_row(state, "service_quality")["allowed"] is False
    assert not await container.consent.may_process(subject, "service_quality")
    await act(owner, "service_quality", "unobject")
    assert await container.consent.may_process(subject, "service_quality")
    await act(owner, "service_quality", "restrict")
    assert not await container.consent.may_process(subject, "service_quality")


@pytest.mark.promise("P-RIGHTS-5")
async def test_bad_changes_are_refused_with_problem_details(
    app: FastAPI, container: Container
) -> None:
    owner = await instance_owner(app, container)
    cases = [
        {"changes": [{"purpose": "provide_service", "action": "restrict"}]},
        {"changes": [{"purpose": "no_such_thing", "action": "give"}]},
        {"changes": [{"purpose": "service_quality", "action": "give"}]},
        {"changes": [{"purpose": "analytics", "action": "object"}]},
        {"changes": [{"purpose": "analytics", "action": "shred"}]},
        {"changes": []},
        {"changes": [{"purpose": "analytics", "action": "give"}], "extra": 1},
    ]
    for body in cases:
        response = await owner.http.post("/api/v1/me/consents", json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["code"] == "validation_failed" and problem["errors"], problem
    put = await owner.http.put(
        "/api/v1/me/consents", json={"purposes": {"service_quality": {"consent": True}}}
    )
    assert put.status_code == 422 and put.json()["errors"]
    assert await ledger(container) == []
    assert (await make_client(app).get("/api/v1/me/consents")).status_code == 401


# -- P-RIGHTS-7: refusing everything optional costs nothing essential -----------------------


def refuse_everything() -> dict[str, object]:
    wanted: dict[str, dict[str, bool]] = {}
    for p in OPTIONAL:
        wanted[p.key] = {"restricted": True}
        if p.basis is LegalBasis.CONSENT:
            wanted[p.key]["consent"] = False
        if p.basis is LegalBasis.LEGITIMATE_INTEREST:
            wanted[p.key]["objected"] = True
    return {"purposes": wanted}


@pytest.mark.promise("P-RIGHTS-7")
async def test_sign_in_chat_and_the_stream_work_with_every_option_refused(
    app: FastAPI, container: Container
) -> None:
    a = await instance_owner(app, container)
    b = await member(app, a)
    for person in (a, b):
        person.http.headers.update({"Sec-GPC": "1", "DNT": "1"})
        response = await person.http.put("/api/v1/me/consents", json=refuse_everything())
        assert response.status_code == 200, response.text
        assert not any(r["allowed"] for r in response.json()["purposes"] if not r["essential"])
    fresh = make_client(app)
    fresh.headers.update({"Sec-GPC": "1", "DNT": "1"})
    signin = await fresh.post("/api/v1/auth/signin", json={"email": a.email, "password": PASSWORD})
    assert signin.status_code == 200, signin.text
    await fresh.aclose()
    conversation = await direct(a, b)
    async with (
        serving(app) as address,
        stream(address, await token_for(a), **{"Sec-GPC": "1"}) as live,
    ):
        sent = await say(b, conversation, "still works")
        event = await live.until("message.created")
        assert event["data"]["message"]["id"] == sent["id"]
    for page in ("/profile", "/sessions", "/privacy/centre", "/privacy/cookies"):
        assert (await a.http.get(page)).status_code == 200, page
    assert await container.analytics.views_today() == {}


# -- service-level: a change and the gate in one go ------------------------------------------


async def test_a_banner_choice_records_every_consent_purpose(container: Container) -> None:
    visitor = DataSubject(visitor_id="v" * 32, signals=Signals())
    await container.consent.record_choice(visitor, {"analytics"}, "banner")
    state = await container.consent.state(visitor)
    assert state.chosen
    given = {p.purpose.key for p in state.purposes if p.consent == "given"}
    assert given == {"analytics"}
    assert await container.consent.may_process(visitor, "analytics")
    assert not await container.consent.may_process(visitor, "marketing")
    with pytest.raises(Exception, match="Unknown"):
        await container.consent.change(visitor, [Change("analytics", "give")], "carrier pigeon")
