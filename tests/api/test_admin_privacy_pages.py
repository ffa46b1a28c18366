"""The admins' privacy pages over HTTP: privacy requests, legal holds and the audit log.

Each page calls the same service as the JSON API, so what a page does shows in the API; other
organisations and members who are not admins get 'not found' on every page and every form.
"""

from __future__ import annotations

from datetime import timedelta
from html import unescape

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from parlour.container import Container
from parlour.features.audit.models import AuditEntry
from parlour.settings import Settings
from tests.api.test_pages import browser, page, signed_in_browser, submit
from tests.privacy.test_requests import code_for, mails_to, open_request, verify
from tests.support.world import Person, instance_owner, member, second_org

REQUESTS = "/org/privacy/requests"
HOLDS = "/org/privacy/holds"
AUDIT = "/org/privacy/audit"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Jobs run when the test says so, not in the background."""
    return settings.model_copy(update={"worker_in_process": False})


async def confirmed_request(app: FastAPI, container: Container, email: str, kind: str) -> str:
    request_id, _ = await open_request(None, app, email, kind)
    status, body = await verify(app, request_id, await code_for(container, email))
    assert status == 200, body
    return request_id


async def entries(container: Container) -> int:
    async with container.db.transaction() as uow:
        return await uow.session.scalar(select(func.count()).select_from(AuditEntry)) or 0


def advance(container: Container, delta: timedelta) -> None:
    container.clock.advance(delta)  # type: ignore[attr-defined]


async def said(response: httpx.Response, status: int, *words: str) -> str:
    assert response.status_code == status, (status, response.status_code, response.text[:800])
    text = unescape(response.text)
    for word in words:
        assert word in text, (word, text[:3000])
    return text


async def on_request(
    http: httpx.AsyncClient, request_id: str, action: str, data: dict[str, str]
) -> httpx.Response:
    """Posts one of the forms of a request's page, with the token that page carries."""
    path = f"{REQUESTS}/{request_id}"
    return await submit(http, f"{path}/{action}", data, token_from=path)


@pytest.mark.promise("P-RIGHTS-6")
async def test_an_admin_moves_a_request_along_and_the_answer_is_mailed(
    app: FastAPI, container: Container
) -> None:
    owner = await instance_owner(app, container)
    admin = await member(app, owner, "admin")
    pat = await member(app, owner)
    request_id = await confirmed_request(app, container, pat.email, "erasure")
    unconfirmed, _ = await open_request(None, app, pat.email, "question")
    http = await signed_in_browser(app, admin.email)

    assert REQUESTS in (await page(http, "/org")).links
    listed = await http.get(REQUESTS)
    await said(listed, 200, "Open (2)", "Erasure", "Question", "Ada Requester", pat.email)
    assert f"{REQUESTS}/{request_id}" in listed.text and "Waiting for the requester" in listed.text
    assert "Due soon" not in listed.text and "Overdue" not in listed.text
    advance(container, timedelta(days=11))
    await said(await http.get(REQUESTS), 200, "Due soon: 4 days left")
    advance(container, timedelta(days=5))
    await said(await http.get(REQUESTS), 200, "Open (2, 1 overdue)", "Overdue by 1 day")

    # A request whose address is not confirmed yet can only be withdrawn.
    waiting = await said(await http.get(f"{REQUESTS}/{unconfirmed}"), 200, "has not confirmed")
    assert "Mark withdrawn" in waiting and "Mark in progress" not in waiting
    assert 'name="answer"' not in waiting

    one = await page(http, f"{REQUESTS}/{request_id}")
    assert not one.unlabelled()
    shown = await said(
        await http.get(f"{REQUESTS}/{request_id}"),
        200,
        "Erasure request from Ada Requester",
        "the requester confirmed the address",
        "Mark in progress",
        "Mark withdrawn",
        "Record the answer",
    )
    assert "What they wrote" in shown and "What do you hold?" in shown

    moved = await on_request(http, request_id, "state", {"state": "in_progress"})
    assert moved.status_code == 303
    assert moved.headers["location"] == f"{REQUESTS}/{request_id}?notice=in_progress"
    after = await said(await http.get(moved.headers["location"]), 200, "marked in progress")
    assert "Mark in progress" not in after and "Mark withdrawn" in after
    api = (await admin.http.get(f"/api/v1/privacy-requests/{request_id}")).json()
    assert api["state"] == "in_progress"

    # A move the state table does not allow (a stale page, say) is refused in words.
    again = await on_request(http, request_id, "state", {"state": "in_progress"})
    await said(again, 409, "There is a problem", "cannot become in progress", "it is in progress")
    odd = await on_request(http, request_id, "state", {"state": "answered"})
    assert odd.status_code == 422 and 'role="alert"' in odd.text

    empty = await on_request(http, request_id, "answer", {"answer": "  ", "outcome": "answered"})
    text = await said(empty, 422, "Write the answer the requester will receive.")
    assert 'href="#f-answer"' in text and 'aria-invalid="true"' in text
    no_outcome = await on_request(
        http, request_id, "answer", {"answer": "Kept.", "outcome": "maybe"}
    )
    text = await said(no_outcome, 422, "Choose whether the request is answered or refused.")
    assert "Kept." in text, "what the admin wrote is kept"

    answered = await on_request(
        http,
        request_id,
        "answer",
        {"answer": "Your account and messages are erased.", "outcome": "answered"},
    )
    assert answered.headers["location"] == f"{REQUESTS}/{request_id}?notice=answered"
    closed = await said(
        await http.get(answered.headers["location"]),
        200,
        "mailed to the requester",
        "answered by you",
        "Your account and messages are erased.",
    )
    assert 'action="/org/privacy/requests' not in closed, "a closed request offers no moves"
    mails = [b for s, b in await mails_to(container, pat.email) if s.endswith("is answered")]
    assert mails and "Your account and messages are erased." in mails[0]
    api = (await admin.http.get(f"/api/v1/privacy-requests/{request_id}")).json()
    assert api["state"] == "answered" and api["answered_by"] == admin.id

    late = await on_request(http, request_id, "state", {"state": "withdrawn"})
    await said(late, 409, "cannot become withdrawn", "it is answered")
    twice = await on_request(http, request_id, "answer", {"answer": "Again", "outcome": "refused"})
    await said(twice, 409, "cannot become refused")
    assert len(await mails_to(container, pat.email)) == 3  # two codes and the one answer

    await said(await http.get(REQUESTS), 200, "Closed (1)", "Open (1)")
    audit = await said(await http.get(AUDIT), 200, "Answered a privacy request")
    assert f'href="{REQUESTS}/{request_id}"' in audit


@pytest.mark.promise("P-ADM-2")
async def test_holds_placed_and_lifted_on_the_page_show_in_the_api_and_the_audit_log(
    app: FastAPI, container: Container
) -> None:
    owner = await instance_owner(app, container)
    admin = await member(app, owner, "admin")
    pat = await member(app, owner)
    pat_name = (await admin.http.get(f"/api/v1/users/{pat.id}")).json()["name"]
    http = await signed_in_browser(app, admin.email)
    assert HOLDS in (await page(http, "/org")).links
    shown = await page(http, HOLDS)
    assert not shown.unlabelled() and shown.field("user_id")["tag"] == "select"

    nothing = await submit(http, HOLDS, {"user_id": "", "reason": ""})
    text = await said(nothing, 422, "Choose the member whose data must be kept.")
    assert "Give the legal reason for the hold" in text and 'href="#f-reason"' in text
    stranger = await submit(http, HOLDS, {"user_id": "0" * 32, "reason": "Case 7"})
    await said(stranger, 404, "not a member of this organisation")

    placed = await submit(http, HOLDS, {"user_id": pat.id, "reason": "Case 2026-114"})
    assert placed.headers["location"] == HOLDS + "?notice=placed"
    await said(await http.get(placed.headers["location"]), 200, "Active holds (1)", "Case 2026-114")
    (hold,) = (await admin.http.get(f"/api/v1/orgs/{admin.org_id}/holds")).json()
    assert hold["user_id"] == pat.id and hold["released_at"] is None

    ask = await said(
        await http.get(f"{HOLDS}/{hold['id']}/lift"), 200, f"Lift the hold on {pat_name}?"
    )
    assert "Case 2026-114" in ask
    lifted = await submit(http, f"{HOLDS}/{hold['id']}/lift", {}, token_from=HOLDS)
    assert lifted.headers["location"] == HOLDS + "?notice=lifted"
    await said(await http.get(HOLDS), 200, "Active holds (0)", "Lifted holds (1)")
    (hold,) = (await admin.http.get(f"/api/v1/orgs/{admin.org_id}/holds")).json()
    assert hold["released_at"] is not None
    twice = await submit(http, f"{HOLDS}/{hold['id']}/lift", {}, token_from=HOLDS)
    assert twice.headers["location"] == HOLDS + "?notice=already-lifted"
    assert (await http.get(f"{HOLDS}/{hold['id']}/lift")).headers["location"] == (
        HOLDS + "?notice=already-lifted"
    )

    # The audit page shows both, with whose data it was; looking at it writes nothing.
    assert (await admin.http.get(f"/api/v1/users/{owner.id}")).status_code == 200
    before = await entries(container)
    audit = await said(
        await http.get(AUDIT), 200, "Placed a legal hold", "Lifted a legal hold", pat_name
    )
    assert "hold.place" in audit and "hold.lift" in audit
    assert "An owner" in audit and "A former member" not in audit  # admins do not manage owners
    assert await entries(container) == before
    checked = await said(await http.get(AUDIT + "?check=1"), 200, "The chain holds.")
    assert f"All {before} entries" in checked
    assert await entries(container) == before


@pytest.mark.promise("P-ADM-2")
async def test_the_audit_log_goes_back_page_by_page(app: FastAPI, container: Container) -> None:
    owner = await instance_owner(app, container)
    admin = await member(app, owner, "admin")
    pat = await member(app, owner)
    for _ in range(60):  # one entry each: the admin opened pat's profile
        assert (await admin.http.get(f"/api/v1/users/{pat.id}")).status_code == 200
    http = await signed_in_browser(app, admin.email)
    first = await page(http, AUDIT)
    older = [link for link in first.links if link.startswith(AUDIT + "?cursor=")]
    assert len(older) == 1
    text = await said(await http.get(older[0]), 200, "Older entries", "Opened a profile")
    assert f'href="{AUDIT}"' in text
    assert (await http.get(AUDIT + "?cursor=abc")).status_code == 422

    visitor = browser(app)
    away = await visitor.get(AUDIT)
    assert away.status_code == 303 and away.headers["location"].startswith("/signin?next=")


async def refused_everywhere(
    http: httpx.AsyncClient, request_id: str, hold_id: str, user_id: str, *, own_lists: bool
) -> None:
    """Every page and form about another organisation's things answers 'not found'."""
    gets = [f"{REQUESTS}/{request_id}", f"{HOLDS}/{hold_id}/lift"]
    if not own_lists:
        gets += [REQUESTS, HOLDS, AUDIT, AUDIT + "?check=1"]
    for path in gets:
        response = await http.get(path)
        assert response.status_code == 404, (path, response.status_code)
    posts = {
        f"{REQUESTS}/{request_id}/state": {"state": "withdrawn"},
        f"{REQUESTS}/{request_id}/answer": {"answer": "x", "outcome": "answered"},
        f"{HOLDS}/{hold_id}/lift": {},
        HOLDS: {"user_id": user_id, "reason": "Case 9"},
    }
    for path, data in posts.items():
        response = await submit(http, path, data, token_from="/profile")
        assert response.status_code == 404, (path, response.status_code, response.text[:300])


@pytest.mark.promise("P-ADM-3")
async def test_members_and_other_organisations_get_not_found_on_every_page_and_form(
    app: FastAPI, container: Container
) -> None:
    owner = await instance_owner(app, container)
    admin = await member(app, owner, "admin")
    pat = await member(app, owner)
    request_id = await confirmed_request(app, container, pat.email, "access")
    hold = await admin.http.post(
        f"/api/v1/orgs/{admin.org_id}/holds", json={"user_id": pat.id, "reason": "Case A"}
    )
    hold_id = hold.json()["id"]
    globex: Person = await second_org(app, owner)
    their_admin = await member(app, globex, "admin")

    await refused_everywhere(
        await signed_in_browser(app, pat.email), request_id, hold_id, pat.id, own_lists=False
    )
    for outsider in (globex, their_admin):
        http = await signed_in_browser(app, outsider.email)
        await refused_everywhere(http, request_id, hold_id, pat.id, own_lists=True)
        for path in (REQUESTS, HOLDS, AUDIT):
            text = await said(await http.get(path), 200)
            assert request_id not in text and hold_id not in text and pat.email not in text
            assert "Case A" not in text

    # Nothing of organisation A changed on the way.
    api = (await admin.http.get(f"/api/v1/privacy-requests/{request_id}")).json()
    assert api["state"] == "verified" and api["answer"] is None
    (still,) = (await admin.http.get(f"/api/v1/orgs/{admin.org_id}/holds")).json()
    assert still["released_at"] is None
    assert len((await admin.http.get(f"/api/v1/orgs/{admin.org_id}/holds")).json()) == 1
