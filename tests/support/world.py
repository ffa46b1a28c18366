"""Builds people and organisations through the public API, as real users would."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from urllib.parse import parse_qs, urlparse

import httpx
from fastapi import FastAPI

from parlour.container import Container
from parlour.features.privacy.policy import VERSIONS

PASSWORD = "correct horse battery staple"
ADULT = "1990-04-02"
_seq = itertools.count(1)


def secret_of(link: str, name: str) -> str:
    return parse_qs(urlparse(link).query)[name][0]


def policy_version() -> str:
    return VERSIONS[-1].version


@dataclass
class Person:
    id: str
    email: str
    org_id: str
    role: str
    http: httpx.AsyncClient

    async def close(self) -> None:
        await self.http.aclose()


def _client(app: FastAPI) -> httpx.AsyncClient:
    from tests.conftest import make_client

    return make_client(app)


def signup_body(email: str | None = None, **extra: object) -> dict[str, object]:
    n = next(_seq)
    body: dict[str, object] = {
        "name": f"Person {n}",
        "email": email or f"person{n}@example.org",
        "password": PASSWORD,
        "birth_date": ADULT,
        "accept_policy": policy_version(),
    }
    body.update(extra)
    return body


def _signed_in(app: FastAPI, http: httpx.AsyncClient, response: httpx.Response) -> Person:
    assert response.status_code in (200, 201), response.text
    data = response.json()
    http.headers["X-CSRF-Token"] = data["csrf_token"]
    user = data["user"]
    return Person(user["id"], user["email"], user["org_id"], user["role"], http)


async def instance_owner(app: FastAPI, container: Container, org_name: str = "Acme") -> Person:
    link = await container.orgs.setup_link()
    assert link is not None
    http = _client(app)
    body = signup_body(token=secret_of(link, "token"), org_name=org_name)
    return _signed_in(app, http, await http.post("/api/v1/setup", json=body))


async def join(app: FastAPI, link: str, email: str | None = None, **extra: object) -> Person:
    http = _client(app)
    body = signup_body(email, invitation=secret_of(link, "invitation"), **extra)
    return _signed_in(app, http, await http.post("/api/v1/auth/signup", json=body))


async def invite(admin: Person, role: str = "member", email: str | None = None) -> str:
    body: dict[str, object] = {"role": role}
    if email:
        body["email"] = email
    response = await admin.http.post(f"/api/v1/orgs/{admin.org_id}/invitations", json=body)
    assert response.status_code == 201, response.text
    link: str = response.json()["link"]
    return link


async def member(app: FastAPI, admin: Person, role: str = "member") -> Person:
    return await join(app, await invite(admin, role))


async def second_org(app: FastAPI, owner: Person, name: str = "Globex") -> Person:
    """A second organisation, with its own owner, created by the instance owner."""
    response = await owner.http.post("/api/v1/orgs", json={"name": name})
    assert response.status_code == 201, response.text
    return await join(app, response.json()["owner_invitation"])


async def token_for(person: Person, name: str = "tests") -> str:
    response = await person.http.post(
        "/api/v1/auth/tokens", json={"email": person.email, "password": PASSWORD, "name": name}
    )
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


async def direct(a: Person, b: Person) -> str:
    response = await a.http.post("/api/v1/conversations", json={"kind": "direct", "user_id": b.id})
    assert response.status_code in (200, 201), response.text
    conversation_id: str = response.json()["id"]
    return conversation_id


async def say(
    person: Person, conversation_id: str, body: str, **extra: object
) -> dict[str, object]:
    response = await person.http.post(
        f"/api/v1/conversations/{conversation_id}/messages", json={"body": body, **extra}
    )
    assert response.status_code == 201, response.text
    message: dict[str, object] = response.json()
    return message
