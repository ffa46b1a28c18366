"""Tracked privacy requests (P-RIGHTS-6, P-POL-3): a contact form for anyone, an emailed code
that confirms the address without telling who has an account, a 15-day deadline with a
reminder on day 10 from a durable job, a recorded answer mailed back, every step audited."""

from __future__ import annotations

import itertools
import re
from datetime import timedelta

import pytest
from fastapi import FastAPI

from parlour.container import Container
from parlour.core.errors import AppError
from parlour.features.requests.states import CLOSED, TRANSITIONS, State, can_move, check_move
from parlour.settings import Settings
from tests.support.html import parse_html
from tests.support.world import Person, instance_owner, member, second_org

CODE = re.compile(r"Your code is (\d{6})")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "worker_in_process": False,
            "privacy_contact_email": "privacy@example.net",
            "dpo_name": "Dee Poe",
        }
    )


async def mails_to(container: Container, to: str) -> list[tuple[str, str]]:
    return [(m.subject, m.body) for m in await container.mailer.recent(200) if m.to_addr == to]


async def open_request(
    person: Person | None, app: FastAPI, email: str, kind: str = "access"
) -> tuple[str, dict[str, object]]:
    from tests.conftest import make_client

    body = {"name": "Ada Requester", "email": email, "kind": kind, "message": "What do you hold?"}
    async with make_client(app) as http:
        response = await http.post("/api/v1/privacy/requests", json=body)
    assert response.status_code == 202, response.text
    data: dict[str, object] = response.json()
    return str(data["request_id"]), data


async def code_for(container: Container, email: str) -> str:
    mails = await mails_to(container, email)
    found = [m for s, b in mails if (m := CODE.search(b))]
    assert found, mails
    return found[0].group(1)


async def verify(app: FastAPI, request_id: str, code: str) -> tuple[int, dict[str, object]]:
    from tests.conftest import make_client

    async with make_client(app) as http:
        response = await http.post(
            "/api/v1/privacy/requests/verify", json={"request_id": request_id, "code": code}
        )
    return response.status_code, response.json()


@pytest.mark.promise("P-RIGHTS-6")
def test_every_pair_of_states_moves_exactly_as_the_table_says() -> None:
    for current, target in itertools.product(State, State):
        allowed = target in TRANSITIONS[current]
        assert can_move(current, target) is allowed
        if allowed:
            check_move(current, target)
        else:
            with pytest.raises(AppError) as refused:
                check_move(current, target)
            assert refused.value.status == 409
    assert {State.ANSWERED, State.REFUSED, State.WITHDRAWN} == CLOSED
    assert not can_move(State.RECEIVED, State.ANSWERED)  # nobody answers an unconfirmed address


@pytest.mark.promise("P-RIGHTS-6")
async def test_the_form_never_tells_whether_an_account_exists(
    app: FastAPI, container: Container
) -> None:
    owner = await instance_owner(app, container)
    _a, with_account = await open_request(None, app, owner.email)
    _b, without = await open_request(None, app, "nobody@example.com")
    assert with_account.keys() == without.keys() and with_account["detail"] == without["detail"]
    subjects = [s for s, _ in await mails_to(container, owner.email)]
    assert subjects == [s for s, _ in await mails_to(container, "nobody@example.com")]


@pytest.mark.promise("P-RIGHTS-6")
async def test_a_code_works_for_thirty_minutes_and_five_tries(
    app: FastAPI, container: Container
) -> None:
    await instance_owner(app, container)
    first, _ = await open_request(None, app, "tries@example.com")
    code = await code_for(container, "tries@example.com")
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(5):
        status, body = await verify(app, first, wrong)
        assert status == 400 and body["code"] == "verification_failed"
    status, _body = await verify(app, first, code)
    assert status == 400  # the right code, too late
    second, _ = await open_request(None, app, "late@example.com")
    container.clock.advance(timedelta(minutes=31))  # type: ignore[attr-defined]
    status, _body = await verify(app, second, await code_for(container, "late@example.com"))
    assert status == 400


@pytest.mark.promise("P-RIGHTS-6")
async def test_a_request_is_due_in_15_days_reminded_on_day_10_and_answered(
    app: FastAPI, container: Container
) -> None:
    owner = await instance_owner(app, container)
    admin = await member(app, owner, "admin")
    pat = await member(app, owner)
    request_id, _ = await open_request(None, app, pat.email, "erasure")
    status, body = await verify(app, request_id, await code_for(container, pat.email))
    assert status == 200 and body["state"] == "verified"
    assert [s for s, _ in await mails_to(container, admin.email)] == ["A new privacy request"]
    seen = (await admin.http.get(f"/api/v1/privacy-requests/{request_id}")).json()
    assert seen["due_at"] is not None and seen["kind"] == "erasure" and seen["has_account"]
    container.clock.advance(timedelta(days=9, hours=23))  # type: ignore[attr-defined]
    await container.jobs.run_due()
    assert len(await mails_to(container, admin.email)) == 1
    container.clock.advance(timedelta(hours=1))  # type: ignore[attr-defined]
    assert await container.jobs.run_due() == 1
    reminders = [s for s, _ in await mails_to(container, admin.email) if "Reminder" in s]
    assert reminders == ["Reminder: a privacy request is due"]
    assert "Reminder: a privacy request is due" in [
        s for s, _ in await mails_to(container, owner.email)
    ]
    moved = await admin.http.post(
        f"/api/v1/privacy-requests/{request_id}/state", json={"state": "in_progress"}
    )
    assert moved.status_code == 200 and moved.json()["state"] == "in_progress"
    answered = await admin.http.post(
        f"/api/v1/privacy-requests/{request_id}/answer", json={"answer": "Erased on day 11."}
    )
    out = answered.json()
    assert answered.status_code == 200 and out["state"] == "answered"
    assert out["answered_by"] == admin.id and out["answered_at"] is not None
    answer_mails = [b for s, b in await mails_to(container, pat.email) if "answered" in s]
    assert answer_mails and "Erased on day 11." in answer_mails[0]
    again = await admin.http.post(
        f"/api/v1/privacy-requests/{request_id}/state", json={"state": "withdrawn"}
    )
    assert again.status_code == 409 and again.json()["code"] == "request_state_conflict"
    audit = (await owner.http.get(f"/api/v1/orgs/{owner.org_id}/audit")).json()["entries"]
    steps = [e["action"] for e in reversed(audit) if e["request_id"] == request_id]
    assert steps == [
        "request.open",
        "request.verify",
        "request.view",
        "request.remind",
        "request.in_progress",
        "request.answered",
    ]


@pytest.mark.promise("P-RIGHTS-6")
async def test_only_the_requesters_organisation_sees_the_request(
    app: FastAPI, container: Container
) -> None:
    owner = await instance_owner(app, container)
    pat = await member(app, owner)
    other = await second_org(app, owner)
    request_id, _ = await open_request(None, app, pat.email)
    for outsider in (other, pat):
        response = await outsider.http.get(f"/api/v1/privacy-requests/{request_id}")
        assert response.status_code == 404
    assert (await other.http.get("/api/v1/privacy-requests")).json() == []
    listed = (await owner.http.get("/api/v1/privacy-requests")).json()
    assert [r["id"] for r in listed] == [request_id]


@pytest.mark.promise("P-RIGHTS-6", "P-POL-3")
async def test_people_without_an_account_reach_the_instance_privacy_contact(
    app: FastAPI, container: Container
) -> None:
    owner = await instance_owner(app, container)
    admin_elsewhere = await second_org(app, owner)
    request_id, _ = await open_request(None, app, "outsider@example.com", "question")
    status, _body = await verify(app, request_id, await code_for(container, "outsider@example.com"))
    assert status == 200
    notices = await mails_to(container, "privacy@example.net")
    assert [s for s, _ in notices] == ["A new privacy request"]
    assert request_id in notices[0][1]
    gone = await admin_elsewhere.http.get(f"/api/v1/privacy-requests/{request_id}")
    assert gone.status_code == 404
    refused = await owner.http.post(
        f"/api/v1/privacy-requests/{request_id}/answer",
        json={"answer": "We hold nothing about you.", "refuse": True},
    )
    assert refused.status_code == 200 and refused.json()["state"] == "refused"


@pytest.mark.promise("P-POL-3")
async def test_the_contact_page_names_the_dpo_and_opens_a_tracked_request(
    app: FastAPI, container: Container, settings: Settings
) -> None:
    from tests.conftest import make_client

    owner = await instance_owner(app, container)
    async with make_client(app) as visitor:
        page = await visitor.get("/privacy/contact")
        assert page.status_code == 200 and "Dee Poe" in page.text
        assert "privacy@example.net" in page.text
        form = parse_html(page.text)
        assert {f["name"] for f in form.visible_fields()} >= {"name", "email", "kind", "message"}
        sent = await visitor.post(
            "/privacy/contact",
            data={
                "csrf_token": form.csrf,
                "name": "Vera Visitor",
                "email": "vera@example.com",
                "kind": "portability",
                "message": "Please send my data.",
            },
        )
        assert sent.status_code == 200, sent.text
        step = parse_html(sent.text)
        hidden = step.hidden_values("/privacy/contact/verify")
        code = await code_for(container, "vera@example.com")
        done = await visitor.post(
            "/privacy/contact/verify", data={**hidden, "csrf_token": step.csrf, "code": code}
        )
        assert done.status_code == 200 and "is confirmed" in done.text
    row = (await owner.http.get(f"/api/v1/privacy-requests/{hidden['request_id']}")).json()
    assert (row["kind"], row["state"]) == ("portability", "verified")
