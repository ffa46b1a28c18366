"""Rectification (P-RIGHTS-3): a person corrects every editable field of their profile, and
their preferences, whenever they like; the correction is what everyone sees next."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI

from parlour.container import Container
from tests.support.html import parse_html
from tests.support.world import PASSWORD, Person, direct, instance_owner, member

FIRST = {
    "name": "Ada Byron",
    "phone": "+44 20 7946 0001",
    "title": "Analyst",
    "department": "Engines",
    "location": "London",
}
SECOND = {
    "name": "Ada Lovelace",
    "phone": "+44 20 7946 0999",
    "title": "Lead analyst",
    "department": "Difference engines",
    "location": "Ockham",
}


async def seen_by(viewer: Person, person: Person) -> list[dict[str, Any]]:
    """How the person looks to a colleague: in the directory and on their user card."""
    directory = await viewer.http.get(f"/api/v1/orgs/{viewer.org_id}/members")
    assert directory.status_code == 200, directory.text
    [listed] = [u for u in directory.json() if u["id"] == person.id]
    card = await viewer.http.get(f"/api/v1/users/{person.id}")
    assert card.status_code == 200, card.text
    return [listed, card.json()]


def shows(views: list[dict[str, Any]], values: dict[str, str | None]) -> bool:
    return all(view[k] == v for view in views for k, v in values.items())


@pytest.mark.promise("P-RIGHTS-3")
async def test_every_profile_field_can_be_corrected_through_the_api_and_the_page(
    app: FastAPI, container: Container
) -> None:
    owner = await instance_owner(app, container)
    ada = await member(app, owner)
    colleague = await member(app, owner)
    await direct(ada, colleague)

    response = await ada.http.patch("/api/v1/me", json=FIRST)
    assert response.status_code == 200, response.text
    assert shows([response.json()], FIRST)
    assert shows(await seen_by(colleague, ada), FIRST)

    # The same correction through the profile page, as a browser sends it.
    page = await ada.http.get("/profile")
    token = parse_html(page.text).csrf
    saved = await ada.http.post(
        "/profile", data={"csrf_token": token, **SECOND}, follow_redirects=False
    )
    assert saved.status_code == 303 and saved.headers["location"] == "/profile?notice=saved"
    assert shows(await seen_by(colleague, ada), SECOND)
    assert shows(await seen_by(owner, ada), SECOND)
    assert SECOND["name"] in (await owner.http.get("/org")).text
    own = (await ada.http.get("/profile")).text
    assert all(value in own for value in SECOND.values())

    # Optional fields can be emptied again.
    cleared = await ada.http.patch(
        "/api/v1/me", json={"phone": None, "title": None, "department": None, "location": None}
    )
    assert cleared.status_code == 200, cleared.text
    empty = dict.fromkeys(("phone", "title", "department", "location"))
    assert shows(await seen_by(colleague, ada), {"name": SECOND["name"], **empty})


@pytest.mark.promise("P-RIGHTS-3")
async def test_the_email_address_can_be_corrected(app: FastAPI, container: Container) -> None:
    owner = await instance_owner(app, container)
    ada = await member(app, owner)
    changed = await ada.http.post(
        "/api/v1/me/email", json={"email": "ada@lovelace.example", "password": PASSWORD}
    )
    assert changed.status_code == 200, changed.text
    assert shows(await seen_by(owner, ada), {"email": "ada@lovelace.example"})
    signin = {"email": "ada@lovelace.example", "password": PASSWORD}
    assert (await ada.http.post("/api/v1/auth/signin", json=signin)).status_code == 200


@pytest.mark.promise("P-RIGHTS-3")
async def test_preferences_can_be_changed_back_and_forth_at_any_time(
    app: FastAPI, container: Container
) -> None:
    owner = await instance_owner(app, container)
    for wanted in (True, False, True, False):
        body = {
            "purposes": {"personalisation": {"consent": wanted}, "marketing": {"consent": wanted}}
        }
        response = await owner.http.put("/api/v1/me/consents", json=body)
        assert response.status_code == 200, response.text
        rows = {p["key"]: p for p in response.json()["purposes"]}
        assert rows["personalisation"]["allowed"] is wanted
        assert rows["marketing"]["allowed"] is wanted
