"""Registration, sign-in, sessions and tokens through the public API."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from parlour.container import Container
from parlour.core.clock import FixedClock
from parlour.features.accounts.models import PolicyAcceptance, User
from tests.support.world import PASSWORD, instance_owner, invite, join, member, signup_body


async def count_users(container: Container) -> int:
    async with container.db.transaction() as uow:
        return await uow.session.scalar(select(func.count()).select_from(User)) or 0


@pytest.mark.promise("P-ACC-1")
async def test_signup_needs_name_email_password_and_says_what_optional_fields_are_for(
    app: FastAPI, container: Container
) -> None:
    owner = await instance_owner(app, container)
    link = await invite(owner)
    person = await join(app, link, phone="+44 20 7946 0000", title="Engineer")
    me = (await person.http.get("/api/v1/me")).json()
    assert me["phone"] == "+44 20 7946 0000" and me["title"] == "Engineer"
    assert me["department"] is None

    schema = (await person.http.get("/api/v1/openapi.json")).json()["components"]["schemas"][
        "SignUp"
    ]
    assert set(schema["required"]) >= {"name", "email", "password", "birth_date", "invitation"}
    for optional in ("phone", "title", "department", "location"):
        assert optional not in schema["required"]
        assert schema["properties"][optional]["description"].startswith("Optional.")


@pytest.mark.promise("P-ACC-1")
async def test_signup_without_optional_fields_works_and_missing_required_fields_are_named(
    app: FastAPI, container: Container, client: httpx.AsyncClient
) -> None:
    owner = await instance_owner(app, container)
    link = await invite(owner)
    person = await join(app, link)
    assert person.role == "member"
    body = signup_body()
    del body["name"], body["password"]
    response = await client.post("/api/v1/auth/signup", json={**body, "invitation": "x" * 20})
    assert response.status_code == 422
    problem = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert problem["code"] == "validation_failed"
    assert {e["field"] for e in problem["errors"]} == {"name", "password"}


@pytest.mark.promise("P-ACC-2")
async def test_under_minimum_age_is_refused_before_anything_is_stored(
    app: FastAPI, container: Container, client: httpx.AsyncClient, clock: FixedClock
) -> None:
    owner = await instance_owner(app, container)
    link = await invite(owner)
    before = await count_users(container)
    today = clock.now().date()
    fifteen = today.replace(year=today.year - 16) + timedelta(days=1)
    body = signup_body(invitation=link.split("=")[1], birth_date=fifteen.isoformat())
    response = await client.post("/api/v1/auth/signup", json=body)
    assert response.status_code == 422
    assert response.json()["code"] == "under_minimum_age"
    assert await count_users(container) == before
    assert "parlour_session" not in response.cookies


@pytest.mark.promise("P-ACC-2")
async def test_an_organisation_can_raise_the_minimum_age_to_18(
    app: FastAPI, container: Container, client: httpx.AsyncClient, clock: FixedClock
) -> None:
    owner = await instance_owner(app, container)
    response = await owner.http.patch(f"/api/v1/orgs/{owner.org_id}", json={"min_age": 18})
    assert response.json()["min_age"] == 18
    link = await invite(owner)
    today = clock.now().date()
    seventeen = today.replace(year=today.year - 17)
    body = signup_body(invitation=link.split("=")[1], birth_date=seventeen.isoformat())
    response = await client.post("/api/v1/auth/signup", json=body)
    assert response.json()["code"] == "under_minimum_age"
    assert "18" in response.json()["detail"]


@pytest.mark.promise("P-ACC-2")
async def test_no_birth_date_is_stored(app: FastAPI, container: Container) -> None:
    owner = await instance_owner(app, container)
    await join(app, await invite(owner))
    from parlour.db.models import Base

    columns = [c.name for t in Base.metadata.tables.values() for c in t.columns]
    assert not [c for c in columns if "birth" in c or c == "age"]


async def test_policy_acceptance_is_recorded_and_a_stale_version_is_refused(
    app: FastAPI, container: Container, client: httpx.AsyncClient
) -> None:
    owner = await instance_owner(app, container)
    link = await invite(owner)
    stale = signup_body(invitation=link.split("=")[1], accept_policy="1999-01-01")
    response = await client.post("/api/v1/auth/signup", json=stale)
    assert response.json()["code"] == "policy_not_accepted"
    person = await join(app, link)
    async with container.db.transaction() as uow:
        rows = (
            await uow.session.scalars(
                select(PolicyAcceptance).where(PolicyAcceptance.user_id == person.id)
            )
        ).all()
    current = (await client.get("/api/v1/policy")).json()["version"]
    assert [r.policy_version for r in rows] == [current]


@pytest.mark.promise("P-ACC-3")
async def test_passwords_are_stored_as_argon2id_and_never_returned(
    app: FastAPI, container: Container
) -> None:
    owner = await instance_owner(app, container)
    async with container.db.transaction() as uow:
        user = await uow.session.get(User, owner.id)
    assert user is not None and user.password_hash is not None
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash
    for path in ("/api/v1/me", f"/api/v1/orgs/{owner.org_id}/members", f"/api/v1/users/{owner.id}"):
        text = (await owner.http.get(path)).text
        assert "password" not in text and "argon2" not in text


@pytest.mark.promise("P-ACC-3")
async def test_admin_forced_reset_disables_password_and_mails_the_member_only(
    app: FastAPI, container: Container
) -> None:
    owner = await instance_owner(app, container)
    person = await member(app, owner)
    response = await owner.http.post(
        f"/api/v1/orgs/{owner.org_id}/members/{person.id}/password-reset"
    )
    assert response.status_code == 202
    assert "link" not in response.json() and "password" not in response.json()
    assert (await person.http.get("/api/v1/me")).status_code == 401
    response = await person.http.post(
        "/api/v1/auth/signin", json={"email": person.email, "password": PASSWORD}
    )
    assert response.status_code == 401
    mails = await container.mailer.recent()
    assert mails[0].to_addr == person.email and "/reset/confirm?token=" in mails[0].body


@pytest.mark.promise("P-ACC-4")
async def test_session_cookie_is_opaque_signed_httponly_samesite(
    app: FastAPI, container: Container, client: httpx.AsyncClient
) -> None:
    owner = await instance_owner(app, container)
    response = await client.post(
        "/api/v1/auth/signin", json={"email": owner.email, "password": PASSWORD}
    )
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("parlour_session=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # served over plain http in this test
    value = cookie.split(";")[0].split("=", 1)[1]
    assert owner.id not in value and owner.email not in value
    # Tampering with the signature makes it worthless.
    client.cookies.set("parlour_session", value[:-2] + ("AA" if value[-2:] != "AA" else "BB"))
    assert (await client.get("/api/v1/me")).status_code == 401


@pytest.mark.promise("P-ACC-4")
async def test_secure_cookie_behind_tls(tmp_path: object, settings: object) -> None:
    from parlour.settings import Settings

    assert isinstance(settings, Settings)
    tls = settings.model_copy(update={"public_url": "https://chat.example.org"})
    assert tls.secure_cookies


@pytest.mark.promise("P-ACC-4")
async def test_sessions_are_listed_and_revocable_and_sign_out_ends_them(
    app: FastAPI, container: Container, client: httpx.AsyncClient
) -> None:
    owner = await instance_owner(app, container)
    response = await client.post(
        "/api/v1/auth/signin",
        json={"email": owner.email, "password": PASSWORD},
        headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0 Safari/537.36"},
    )
    client.headers["X-CSRF-Token"] = response.json()["csrf_token"]
    sessions = (await owner.http.get("/api/v1/me/sessions")).json()
    assert len(sessions) == 2
    other = next(s for s in sessions if not s["current"])
    assert other["label"] == "Chrome on Linux" and other["ip_prefix"] == "203.0.113.0"
    assert (await owner.http.delete(f"/api/v1/me/sessions/{other['id']}")).status_code == 204
    assert (await client.get("/api/v1/me")).status_code == 401
    assert (await owner.http.post("/api/v1/auth/signout")).status_code == 204
    assert (await owner.http.get("/api/v1/me")).status_code == 401


async def test_cookie_writes_need_the_csrf_token(app: FastAPI, container: Container) -> None:
    owner = await instance_owner(app, container)
    token = owner.http.headers.pop("X-CSRF-Token")
    response = await owner.http.patch("/api/v1/me", json={"title": "CEO"})
    assert response.status_code == 403 and response.json()["code"] == "csrf_failed"
    response = await owner.http.patch(
        "/api/v1/me", json={"title": "CEO"}, headers={"X-CSRF-Token": token}
    )
    assert response.status_code == 200


async def test_bearer_tokens_work_without_csrf_and_can_be_revoked(
    app: FastAPI, container: Container, client: httpx.AsyncClient
) -> None:
    owner = await instance_owner(app, container)
    response = await client.post(
        "/api/v1/auth/tokens", json={"email": owner.email, "password": PASSWORD, "name": "ci bot"}
    )
    assert response.status_code == 201
    token = response.json()["token"]
    assert token.startswith("plr_")
    bearer = {"Authorization": f"Bearer {token}"}
    assert (
        await client.patch("/api/v1/me", json={"title": "Bot"}, headers=bearer)
    ).status_code == 200
    assert (await client.get("/api/v1/me", headers=bearer)).json()["csrf_token"] is None
    await owner.http.delete(f"/api/v1/me/sessions/{response.json()['id']}")
    response = await client.get("/api/v1/me", headers=bearer)
    assert response.status_code == 401 and response.json()["code"] == "unauthenticated"


@pytest.mark.promise("P-ACC-5")
async def test_email_change_needs_the_current_password(app: FastAPI, container: Container) -> None:
    owner = await instance_owner(app, container)
    response = await owner.http.post(
        "/api/v1/me/email", json={"email": "new@example.org", "password": "wrong password!"}
    )
    assert response.status_code == 401 and response.json()["code"] == "reauthentication_required"
    assert (await owner.http.get("/api/v1/me")).json()["email"] == owner.email
    response = await owner.http.post(
        "/api/v1/me/email", json={"email": "New@Example.org", "password": PASSWORD}
    )
    assert response.json()["email"] == "new@example.org"
