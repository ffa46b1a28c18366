"""Changing, resetting and force-resetting passwords; no password hash ever leaves (P-ACC-3)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from parlour.container import Container
from parlour.core.clock import FixedClock
from parlour.db.models import Base
from parlour.features.accounts.models import User
from parlour.features.privacy.datamap import entries
from parlour.mail.models import OutboxMail
from parlour.settings import Settings
from tests.support.world import (
    PASSWORD,
    Person,
    instance_owner,
    invite,
    join,
    member,
    secret_of,
    token_for,
)

NEW = "a completely new passphrase"


def other_client(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=("198.51.100.20", 41000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def sign_in(app: FastAPI, email: str, password: str) -> httpx.Response:
    async with other_client(app) as http:
        return await http.post("/api/v1/auth/signin", json={"email": email, "password": password})


async def second_browser(app: FastAPI, person: Person) -> httpx.AsyncClient:
    http = other_client(app)
    response = await http.post(
        "/api/v1/auth/signin", json={"email": person.email, "password": PASSWORD}
    )
    assert response.status_code == 200
    return http


async def mails_to(container: Container, address: str) -> list[OutboxMail]:
    async with container.db.transaction() as uow:
        rows = await uow.session.scalars(select(OutboxMail).where(OutboxMail.to_addr == address))
        return list(rows)


async def reset_secret(container: Container, address: str) -> str:
    links = [
        word
        for mail in await mails_to(container, address)
        for word in mail.body.split()
        if "/reset/confirm?token=" in word
    ]
    assert links, f"no reset link was mailed to {address}"
    return secret_of(links[-1], "token")


@pytest.fixture
async def people(app: FastAPI, container: Container) -> tuple[Person, Person]:
    owner = await instance_owner(app, container)
    return owner, await member(app, owner)


# -- change ------------------------------------------------------------------------------


@pytest.mark.promise("P-ACC-4")
async def test_changing_the_password_needs_the_current_one_and_signs_out_other_sessions(
    app: FastAPI, people: tuple[Person, Person]
) -> None:
    _, pat = people
    laptop = await second_browser(app, pat)
    token = await token_for(pat)
    wrong = {"current_password": "not my password", "new_password": NEW}
    refused = await pat.http.post("/api/v1/me/password", json=wrong)
    assert refused.status_code == 401 and refused.json()["code"] == "reauthentication_required"
    assert (await laptop.get("/api/v1/me")).status_code == 200

    body = {"current_password": PASSWORD, "new_password": NEW}
    assert (await pat.http.post("/api/v1/me/password", json=body)).status_code == 204
    assert (await pat.http.get("/api/v1/me")).status_code == 200  # this browser stays in
    assert (await laptop.get("/api/v1/me")).status_code == 401
    bearer = {"Authorization": f"Bearer {token}"}
    assert (await laptop.get("/api/v1/me", headers=bearer)).status_code == 401
    assert (await sign_in(app, pat.email, PASSWORD)).status_code == 401
    assert (await sign_in(app, pat.email, NEW)).status_code == 200
    await laptop.aclose()


async def test_a_weak_new_password_is_refused_and_the_old_one_keeps_working(
    app: FastAPI, people: tuple[Person, Person]
) -> None:
    _, pat = people
    for weak in ("short", "aaaaaaaaaaaaaaaa"):
        body = {"current_password": PASSWORD, "new_password": weak}
        response = await pat.http.post("/api/v1/me/password", json=body)
        assert response.status_code == 422
        problem = response.json()
        assert problem["code"] == "weak_password"
        assert [e["field"] for e in problem["errors"]] == ["new_password"]
    assert (await sign_in(app, pat.email, PASSWORD)).status_code == 200


# -- reset -------------------------------------------------------------------------------


async def test_a_reset_request_answers_the_same_for_known_and_unknown_addresses(
    app: FastAPI, container: Container, people: tuple[Person, Person], client: httpx.AsyncClient
) -> None:
    _, pat = people
    known = await client.post("/api/v1/auth/password-reset", json={"email": pat.email})
    unknown = await client.post("/api/v1/auth/password-reset", json={"email": "nobody@example.org"})
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    assert len(await mails_to(container, pat.email)) == 1
    assert await mails_to(container, "nobody@example.org") == []
    mail = (await mails_to(container, pat.email))[0]
    assert "Reset your Parlour password" in mail.subject and PASSWORD not in mail.body


async def test_a_reset_link_works_once_and_ends_every_session(
    app: FastAPI, container: Container, people: tuple[Person, Person], client: httpx.AsyncClient
) -> None:
    _, pat = people
    await client.post("/api/v1/auth/password-reset", json={"email": pat.email})
    secret = await reset_secret(container, pat.email)
    confirm = {"token": secret, "new_password": NEW}
    assert (
        await client.post("/api/v1/auth/password-reset/confirm", json=confirm)
    ).status_code == 204
    assert (await pat.http.get("/api/v1/me")).status_code == 401
    again = await client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": secret, "new_password": NEW + "!"}
    )
    assert again.status_code == 400 and again.json()["code"] == "token_invalid"
    assert (await sign_in(app, pat.email, PASSWORD)).status_code == 401
    assert (await sign_in(app, pat.email, NEW)).status_code == 200
    assert (await sign_in(app, pat.email, NEW + "!")).status_code == 401


async def test_a_reset_link_expires(
    app: FastAPI,
    container: Container,
    people: tuple[Person, Person],
    client: httpx.AsyncClient,
    clock: FixedClock,
    settings: Settings,
) -> None:
    _, pat = people
    await client.post("/api/v1/auth/password-reset", json={"email": pat.email})
    secret = await reset_secret(container, pat.email)
    clock.advance(timedelta(minutes=settings.reset_link_minutes, seconds=1))
    late = await client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": secret, "new_password": NEW}
    )
    assert late.status_code == 400 and late.json()["code"] == "token_invalid"
    assert (await sign_in(app, pat.email, PASSWORD)).status_code == 200


async def test_a_reset_refuses_a_weak_password_and_the_link_still_works(
    app: FastAPI, container: Container, people: tuple[Person, Person], client: httpx.AsyncClient
) -> None:
    _, pat = people
    await client.post("/api/v1/auth/password-reset", json={"email": pat.email})
    secret = await reset_secret(container, pat.email)
    weak = await client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": secret, "new_password": "abc"}
    )
    assert weak.status_code == 422 and weak.json()["code"] == "weak_password"
    assert (await sign_in(app, pat.email, PASSWORD)).status_code == 200
    ok = await client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": secret, "new_password": NEW}
    )
    assert ok.status_code == 204


async def test_a_newer_reset_link_voids_nothing_but_a_used_one_voids_all(
    app: FastAPI, container: Container, people: tuple[Person, Person], client: httpx.AsyncClient
) -> None:
    _, pat = people
    for _ in range(2):
        await client.post("/api/v1/auth/password-reset", json={"email": pat.email})
    links = [
        secret_of(word, "token")
        for mail in await mails_to(container, pat.email)
        for word in mail.body.split()
        if "token=" in word
    ]
    assert len(set(links)) == 2
    first = {"token": links[0], "new_password": NEW}
    assert (await client.post("/api/v1/auth/password-reset/confirm", json=first)).status_code == 204
    second = {"token": links[1], "new_password": NEW + "?"}
    late = await client.post("/api/v1/auth/password-reset/confirm", json=second)
    assert late.json()["code"] == "token_invalid"


# -- P-ACC-3: hashes never leave; admins never learn or set a password --------------------


def no_hash_in(value: Any, hashes: list[str]) -> None:
    text = value if isinstance(value, str) else repr(value)
    assert "$argon2" not in text
    for digest in hashes:
        assert digest not in text


async def password_hashes(container: Container) -> list[str]:
    async with container.db.transaction() as uow:
        rows = await uow.session.scalars(select(User.password_hash))
        return [h for h in rows if h]


@pytest.mark.promise("P-ACC-3")
async def test_no_api_response_carries_a_password_hash(
    app: FastAPI, container: Container, client: httpx.AsyncClient
) -> None:
    owner = await instance_owner(app, container)
    link = await invite(owner)
    body = {"email": "hash@example.org"}
    pat = await join(app, link, **body)
    hashes = await password_hashes(container)
    assert len(hashes) == 2 and all(h.startswith("$argon2id$") for h in hashes)
    for person in (owner, pat):
        for path in (
            "/api/v1/me",
            f"/api/v1/users/{owner.id}",
            f"/api/v1/users/{pat.id}",
            f"/api/v1/orgs/{owner.org_id}/members",
            "/api/v1/me/sessions",
            "/api/v1/orgs",
        ):
            response = await person.http.get(path)
            assert response.status_code == 200, (path, response.text)
            no_hash_in(response.text, hashes)
    signin = await client.post(
        "/api/v1/auth/signin", json={"email": pat.email, "password": PASSWORD}
    )
    no_hash_in(signin.text, hashes)
    no_hash_in((await client.get("/api/v1/openapi.json")).text, hashes)
    schemas = (await client.get("/api/v1/openapi.json")).json()["components"]["schemas"]
    assert not [name for name, s in schemas.items() if "password_hash" in s.get("properties", {})]


@pytest.mark.promise("P-ACC-3")
def test_the_data_map_keeps_password_hashes_out_of_every_export() -> None:
    credentials = [e for e in entries(Base.metadata) if e.column == "password_hash"]
    assert credentials and all(e.as_dict()["exported"] is False for e in credentials)


@pytest.mark.promise("P-ACC-3")
@pytest.mark.promise("P-ADM-1")
async def test_an_admin_forces_a_reset_without_learning_or_setting_a_password(
    app: FastAPI, container: Container, people: tuple[Person, Person], client: httpx.AsyncClient
) -> None:
    owner, pat = people
    url = f"/api/v1/orgs/{owner.org_id}/members/{pat.id}"
    forced = await owner.http.post(f"{url}/password-reset")
    assert forced.status_code == 202
    assert set(forced.json()) == {"detail"} and "token" not in forced.text
    assert (await pat.http.get("/api/v1/me")).status_code == 401
    assert (await sign_in(app, pat.email, PASSWORD)).status_code == 401
    # The link went to the member alone; nothing was mailed to the admin.
    assert await mails_to(container, owner.email) == []
    secret = await reset_secret(container, pat.email)
    assert secret not in forced.text
    # There is no way for an admin to choose the member's password.
    chosen = await owner.http.patch(url, json={"password": "admin knows this one"})
    assert chosen.status_code == 422
    assert (await sign_in(app, pat.email, "admin knows this one")).status_code == 401
    confirm = {"token": secret, "new_password": NEW}
    assert (
        await client.post("/api/v1/auth/password-reset/confirm", json=confirm)
    ).status_code == 204
    assert (await sign_in(app, pat.email, NEW)).status_code == 200


async def test_a_member_cannot_force_a_reset_on_a_colleague(
    app: FastAPI, people: tuple[Person, Person]
) -> None:
    owner, pat = people
    response = await pat.http.post(f"/api/v1/orgs/{owner.org_id}/members/{owner.id}/password-reset")
    assert response.status_code == 403 and response.json()["code"] == "forbidden"
    assert (await sign_in(app, owner.email, PASSWORD)).status_code == 200
