"""An account found to belong to a child (P-ACC-2) is closed at once and erased with its data."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from parlour.container import Container
from parlour.features.accounts.models import AuthSession, User
from parlour.features.chat.models import Message
from parlour.settings import Settings
from tests.support.world import direct, instance_owner, member, say, second_org, token_for

pytestmark = pytest.mark.promise("P-ACC-2")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"worker_in_process": False})


async def test_a_child_account_is_closed_at_once_and_erased_by_the_job(
    app: FastAPI, container: Container
) -> None:
    owner = await instance_owner(app, container)
    child = await member(app, owner)
    token = await token_for(child)
    await child.http.patch("/api/v1/me", json={"phone": "+44 20 7946 0999", "title": "Pupil"})
    await say(child, await direct(child, owner), "a child's words")
    url = f"/api/v1/orgs/{owner.org_id}/members/{child.id}/child"
    response = await owner.http.post(url, json={"reason": "a parent wrote to us"})
    assert response.status_code == 202, response.text
    assert (await child.http.get("/api/v1/me")).status_code == 401
    bearer = await child.http.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert bearer.status_code == 401
    async with container.db.transaction() as uow:
        assert (
            await uow.session.scalar(select(func.count()).where(AuthSession.user_id == child.id))
            == 0
        )
        assert (await uow.session.get(User, child.id)).status == "closed"  # type: ignore[union-attr]
    assert await container.jobs.run_due() >= 1
    async with container.db.transaction() as uow:
        assert await uow.session.get(User, child.id) is None
        leftovers = await uow.session.scalars(select(Message.body).where(Message.body.is_not(None)))
        assert "a child's words" not in list(leftovers)
        emails = list(await uow.session.scalars(select(User.email)))
    assert child.email not in emails
    audit = (await owner.http.get(f"/api/v1/orgs/{owner.org_id}/audit")).json()["entries"]
    assert next(e["action"] for e in audit if e["subject_user_id"] == child.id) == "member.child"
    assert "a parent wrote to us" not in str(audit)


async def test_only_the_childs_organisation_can_mark_it(app: FastAPI, container: Container) -> None:
    owner = await instance_owner(app, container)
    child = await member(app, owner)
    other = await second_org(app, owner)
    url = f"/api/v1/orgs/{owner.org_id}/members/{child.id}/child"
    assert (await other.http.post(url, json={"reason": "x"})).status_code == 404
    own_url = f"/api/v1/orgs/{other.org_id}/members/{child.id}/child"
    assert (await other.http.post(own_url, json={"reason": "x"})).status_code == 404
    colleague = await member(app, owner)
    assert (await colleague.http.post(url, json={"reason": "x"})).status_code == 404
    assert (await child.http.get("/api/v1/me")).status_code == 200
