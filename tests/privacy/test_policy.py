"""The privacy policy is written from the code (P-POL-1) and its material changes are announced
and accepted before optional processing resumes (P-POL-2)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from html import unescape
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import Column, MetaData, String, select

from parlour.container import Container
from parlour.core.clock import FixedClock
from parlour.core.datamap import PURPOSES, Personal, Retention, personal
from parlour.db.models import Base
from parlour.features.accounts.models import PolicyAcceptance
from parlour.features.consent.models import ConsentEntry
from parlour.features.consent.rules import DataSubject
from parlour.features.privacy import notices, policy_document
from parlour.features.privacy.datamap import entries
from parlour.features.privacy.policy import PolicyVersion
from parlour.settings import Settings, SubProcessor
from tests.conftest import make_client
from tests.support.html import parse_html
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

SUB_PROCESSORS = [
    SubProcessor(name="Postbote Mail GmbH", purpose="Delivers our mail", region="EU (Germany)")
]


@pytest.fixture
def clock() -> FixedClock:
    """After the first published version took effect, so a later one can follow it."""
    return FixedClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        secret_key="test-secret-key-that-is-long-enough-0123456789",
        password_time_cost=1,
        password_memory_cost=1024,
        data_region="EU (Frankfurt, Germany)",
        sub_processors=SUB_PROCESSORS,
        privacy_contact_email="privacy@acme.example",
        dpo_name="Dana Officer",
        dpo_email="dpo@acme.example",
        worker_in_process=False,  # jobs run when the test says so
    )


def personal_entries(metadata: MetaData) -> list[tuple[str, str, Personal]]:
    return [
        (e.table, e.column, e.declaration)
        for e in entries(metadata)
        if isinstance(e.declaration, Personal)
    ]


# -- P-POL-1: generated from the code -------------------------------------------------------


@pytest.mark.promise("P-POL-1")
async def test_the_policy_page_tells_every_personal_column_purpose_and_setting(
    app: FastAPI, container: Container
) -> None:
    async with make_client(app) as visitor:
        response = await visitor.get("/privacy/policy")
        old_address = await visitor.get("/policy")
    assert response.status_code == 200
    assert old_address.status_code == 200 and "Privacy policy" in old_address.text
    page = unescape(response.text)
    declared = personal_entries(Base.metadata)
    assert len(declared) > 50
    for table, column, d in declared:
        said = d.description or column.replace("_", " ").capitalize()
        assert said in page, f"{table}.{column} is missing from the policy"
        assert d.retention.describe() in page, f"{table}.{column}: retention"
    for purpose in PURPOSES.values():
        assert purpose.name in page and purpose.description in page
        assert policy_document.BASIS_TEXT[purpose.basis] in page
    assert "privacy@acme.example" in page and "Dana Officer" in page
    assert "dpo@acme.example" in page
    for cookie in ("parlour_session", "parlour_csrf", "parlour_consent"):
        assert cookie in page
    current = container.policy.current()
    assert f'id="v{current.version}"' in page and current.effective.isoformat() in page
    assert "at least 16" in page
    links = parse_html(response.text).links
    assert "/privacy/centre" in links and "/profile" in links and "/privacy/cookies" in links


@pytest.mark.promise("P-POL-1")
async def test_a_column_added_to_a_model_appears_in_the_policy(
    settings: Settings, container: Container
) -> None:
    """The policy has no list of its own: a new declared column is in it at once."""
    copy = MetaData()
    for table in Base.metadata.tables.values():
        table.to_metadata(copy)
    copy.tables["users"].append_column(
        Column(
            "pronouns",
            String(40),
            info=personal(
                "user.demographic.pronouns",
                "provide_service",
                retention=Retention("the profile field is cleared", days=0),
                description="how you would like colleagues to refer to you",
            ),
        )
    )
    inputs = policy_document.Inputs(
        settings=settings,
        book=container.policy.book,
        today=container.clock.now().date(),
        cookies=(),
        pages=frozenset({"/profile"}),
    )
    doc = policy_document.build(copy, inputs)
    [category] = [c for c in doc.collected if c.key == "user.demographic.pronouns"]
    assert category.title == "Demographic pronouns"
    [item] = category.tables[0].items
    assert item.text == "how you would like colleagues to refer to you"
    assert item.retention == "until the profile field is cleared" and item.about == "you"
    provide = next(p for p in doc.purposes if p.key == "provide_service")
    assert "Demographic pronouns" in provide.categories
    assert any(r.rule == "until the profile field is cleared" for r in doc.retention)
    every = {(i.table, i.column) for c in doc.collected for t in c.tables for i in t.items}
    assert every == {(t, c) for t, c, _ in personal_entries(copy)}


@pytest.mark.promise("P-POL-1")
async def test_the_api_returns_the_same_policy(app: FastAPI, container: Container) -> None:
    async with make_client(app) as visitor:
        body = (await visitor.get("/api/v1/policy")).json()
        page = unescape((await visitor.get("/privacy/policy")).text)
    current = container.policy.current()
    assert body["version"] == current.version
    assert body["effective"] == current.effective.isoformat()
    assert body["summary"] == current.summary
    assert [p["key"] for p in body["purposes"]] == list(PURPOSES)
    items = [i for c in body["collected"] for t in c["tables"] for i in t["items"]]
    assert len(items) == len(personal_entries(Base.metadata))
    assert all(i["text"] in page for i in items)
    assert body["contact"]["dpo_name"] == "Dana Officer"
    assert {r["key"] for r in body["rights"]} >= {"access", "erasure", "rectification"}


@pytest.mark.promise("P-ADM-5")
async def test_the_operators_region_and_sub_processors_are_in_the_policy(app: FastAPI) -> None:
    """What the operator declares in settings is what the page and the API say."""
    async with make_client(app) as visitor:
        page = unescape((await visitor.get("/privacy/policy")).text)
        body = (await visitor.get("/api/v1/policy")).json()
    for text in ("EU (Frankfurt, Germany)", "Postbote Mail GmbH", "Delivers our mail"):
        assert text in page
    assert body["sub_processors"] == [p.model_dump() for p in SUB_PROCESSORS]
    assert body["data_region"] == "EU (Frankfurt, Germany)"


# -- P-POL-2: a material change is announced and must be accepted ----------------------------


def material_change(container: Container, clock: FixedClock, days: int = 10) -> PolicyVersion:
    """Publishes a material version in this test's container only, and lets it take effect."""
    today = clock.now().date()
    version = PolicyVersion(
        f"v-{today + timedelta(days=days)}",
        today + timedelta(days=days),
        material=True,
        summary="Call quality now keeps its measurements for 120 days.",
    )
    container.policy.book.publish(version)
    clock.advance(timedelta(days=days, hours=1))
    return version


async def give(person: Person, purpose: str) -> None:
    response = await person.http.put(
        "/api/v1/me/consents", json={"purposes": {purpose: {"consent": True}}}
    )
    assert response.status_code == 200, response.text


@pytest.mark.promise("P-POL-2")
async def test_until_a_material_change_is_accepted_only_the_service_runs(
    app: FastAPI, container: Container, clock: FixedClock
) -> None:
    owner = await instance_owner(app, container)
    colleague = await member(app, owner)
    cid = await direct(owner, colleague)
    await give(owner, "analytics")
    me = DataSubject(user_id=owner.id)
    assert await container.consent.may_process(me, "analytics")
    assert await container.consent.may_process(me, "service_quality")

    new = material_change(container, clock)
    assert not await container.consent.may_process(me, "service_quality")
    assert not await container.consent.may_process(me, "analytics")
    assert await container.consent.may_process(me, "provide_service")

    # Core features keep working before acceptance (P-RIGHTS-7): sign-in, sending, the stream.
    async with make_client(app) as again:
        signin = {"email": owner.email, "password": PASSWORD}
        assert (await again.post("/api/v1/auth/signin", json=signin)).status_code == 200
    async with serving(app) as address, stream(address, await token_for(colleague)) as live:
        sent = await say(owner, cid, "still here")
        event = await live.until("message.created")
        assert event["data"]["message"]["id"] == sent["id"]

    # Every page carries the banner with a CSRF-protected Accept form.
    page = await owner.http.get("/chat")
    form = parse_html(page.text).hidden_values("/privacy/policy/accept")
    assert form["version"] == new.version and form["csrf_token"]
    assert (await owner.http.get("/api/v1/me/policy")).json()["accepted"] is False
    forged = {k: v for k, v in form.items() if k != "csrf_token"}
    async with make_client(app) as other_site:
        other_site.cookies.update(owner.http.cookies)
        refused = await other_site.post("/privacy/policy/accept", data=forged)
    assert refused.status_code == 403

    accepted = await owner.http.post(
        "/privacy/policy/accept", data={**form, "next": "/chat"}, follow_redirects=False
    )
    assert accepted.status_code == 303 and accepted.headers["location"] == "/chat"
    assert "/privacy/policy/accept" not in (await owner.http.get("/chat")).text
    assert await container.consent.may_process(me, "service_quality")
    # Consent given under the earlier version does not carry over: it must be given again.
    assert not await container.consent.may_process(me, "analytics")
    renew = {"changes": [{"purpose": "analytics", "action": "give"}]}
    assert (await owner.http.post("/api/v1/me/consents", json=renew)).status_code == 200
    assert await container.consent.may_process(me, "analytics")

    async with container.db.transaction() as uow:
        acceptances = await uow.session.scalars(
            select(PolicyAcceptance).where(PolicyAcceptance.user_id == owner.id)
        )
        ledger = await uow.session.scalars(
            select(ConsentEntry).where(ConsentEntry.user_id == owner.id).order_by(ConsentEntry.id)
        )
        assert [(a.policy_version, a.how) for a in acceptances] == [
            (first_version(container), "signup"),
            (new.version, "prompt"),
        ]
        versions = [e.policy_version for e in ledger if e.purpose == "analytics"]
        assert versions == [first_version(container), new.version]


def first_version(container: Container) -> str:
    return container.policy.book.versions[0].version


@pytest.mark.promise("P-POL-2")
async def test_the_api_accepts_the_current_version_only(
    app: FastAPI, container: Container, clock: FixedClock
) -> None:
    owner = await instance_owner(app, container)
    new = material_change(container, clock)
    stale = await owner.http.post(
        "/api/v1/me/policy/accept", json={"version": first_version(container)}
    )
    assert stale.status_code == 422 and stale.json()["code"] == "policy_not_accepted"
    for _ in range(2):
        ok = await owner.http.post("/api/v1/me/policy/accept", json={"version": new.version})
        assert ok.json() == {"current": new.version, "accepted": True}
    async with container.db.transaction() as uow:
        rows = await uow.session.scalars(
            select(PolicyAcceptance.how).where(PolicyAcceptance.policy_version == new.version)
        )
        assert list(rows) == ["api"]


@pytest.mark.promise("P-POL-2")
async def test_a_material_change_is_mailed_once_to_each_person_who_has_not_accepted(
    app: FastAPI, container: Container, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(notices, "BATCH", 2)  # several batches, so the cursor is used
    owner = await instance_owner(app, container)
    people = [await member(app, owner) for _ in range(4)]
    await container.policy.announce_due()
    assert await container.jobs.run_due() >= 0
    assert await container.mailer.recent() == []  # the first version announces nothing

    new = material_change(container, clock)
    await people[0].http.post("/api/v1/me/policy/accept", json={"version": new.version})
    for _ in range(2):
        await container.policy.announce_due()
        await container.jobs.run_due()
    mails = [m for m in await container.mailer.recent() if "privacy policy" in m.subject]
    told = sorted(m.to_addr for m in mails)
    assert told == sorted([owner.email, *(p.email for p in people[1:])])
    assert all("/privacy/policy" in m.body and new.summary in m.body for m in mails)


@pytest.mark.promise("P-POL-2")
async def test_a_change_that_is_not_material_keeps_acceptances_and_consents(
    app: FastAPI, container: Container, clock: FixedClock
) -> None:
    owner = await instance_owner(app, container)
    await give(owner, "analytics")
    today = clock.now().date()
    container.policy.book.publish(
        PolicyVersion("clarified", today + timedelta(days=2), False, "Clearer wording.")
    )
    clock.advance(timedelta(days=3))
    me = DataSubject(user_id=owner.id)
    assert container.policy.current().version == "clarified"
    assert await container.consent.may_process(me, "analytics")
    assert await container.policy.pending(owner.id) is None
    assert "/privacy/policy/accept" not in (await owner.http.get("/profile")).text
    await container.policy.announce_due()
    await container.jobs.run_due()
    assert await container.mailer.recent() == []


def test_versions_come_in_order_and_the_binding_one_is_the_last_material() -> None:
    from parlour.features.privacy.policy import PolicyBook

    a = PolicyVersion("a", date(2026, 1, 1), True, "")
    b = PolicyVersion("b", date(2026, 3, 1), False, "")
    c = PolicyVersion("c", date(2026, 6, 1), True, "")
    book = PolicyBook([c, a, b])
    assert book.current(date(2025, 1, 1)) == a  # before any: the first one
    assert book.current(date(2026, 4, 1)) == b
    assert book.binding(date(2026, 4, 1)) == a
    assert book.still_valid(date(2026, 4, 1)) == {"a", "b"}
    assert book.still_valid(date(2026, 7, 1)) == {"c"}
    assert not book.earlier_than(a) and book.earlier_than(c)
