"""Organisations: who may create them, invitations, roles, and suspending members."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from parlour.container import Container
from parlour.core.clock import FixedClock
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
    signup_body,
    token_for,
)


async def mails_to(container: Container, address: str) -> list[OutboxMail]:
    async with container.db.transaction() as uow:
        rows = await uow.session.scalars(select(OutboxMail).where(OutboxMail.to_addr == address))
        return list(rows)


async def signup(client: httpx.AsyncClient, link: str, **extra: object) -> httpx.Response:
    body = signup_body(invitation=secret_of(link, "invitation"), **extra)
    return await client.post("/api/v1/auth/signup", json=body)


def members_url(person: Person, user_id: str = "") -> str:
    return f"/api/v1/orgs/{person.org_id}/members" + (f"/{user_id}" if user_id else "")


# -- creating organisations ----------------------------------------------------------------


async def test_only_the_instance_owner_creates_organisations(
    app: FastAPI, container: Container
) -> None:
    root = await instance_owner(app, container)
    admin = await member(app, root, "admin")
    refused = await admin.http.post("/api/v1/orgs", json={"name": "Rogue"})
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    made = await root.http.post(
        "/api/v1/orgs",
        json={"name": "Globex", "min_age": 18, "owner_email": "boss@globex.example.org"},
    )
    assert made.status_code == 201
    created = made.json()
    assert created["org"]["name"] == "Globex" and created["org"]["min_age"] == 18
    [mail] = await mails_to(container, "boss@globex.example.org")
    assert secret_of(created["owner_invitation"], "invitation") in mail.body
    boss = await join(app, created["owner_invitation"], email="boss@globex.example.org")
    assert boss.role == "owner" and boss.org_id == created["org"]["id"]
    names = {o["name"] for o in (await root.http.get("/api/v1/orgs")).json()}
    assert names == {"Acme", "Globex"}
    assert [o["name"] for o in (await boss.http.get("/api/v1/orgs")).json()] == ["Globex"]


# -- invitations ---------------------------------------------------------------------------


async def test_an_email_invitation_is_mailed_bound_to_its_address_and_used_once(
    app: FastAPI, container: Container, client: httpx.AsyncClient
) -> None:
    owner = await instance_owner(app, container)
    link = await invite(owner, "member", email="Sam@Example.org")
    [mail] = await mails_to(container, "sam@example.org")
    assert link in mail.body and "Acme" in mail.subject
    preview = await client.get(f"/api/v1/invitations/{secret_of(link, 'invitation')}")
    assert preview.json() == {
        "org_name": "Acme",
        "role": "member",
        "email": "sam@example.org",
        "min_age": 16,
    }
    wrong = await signup(client, link, email="someone.else@example.org")
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "email"
    sam = await join(app, link, email="sam@example.org")
    assert sam.org_id == owner.org_id
    again = await signup(client, link, email="sam@example.org")
    assert again.status_code == 404 and again.json()["code"] == "invitation_invalid"


async def test_a_link_invitation_admits_several_people_until_revoked(
    app: FastAPI, container: Container, client: httpx.AsyncClient
) -> None:
    owner = await instance_owner(app, container)
    created = await owner.http.post(
        f"/api/v1/orgs/{owner.org_id}/invitations", json={"role": "member"}
    )
    link, invitation_id = created.json()["link"], created.json()["id"]
    first, second = await join(app, link), await join(app, link)
    assert first.id != second.id and first.role == second.role == "member"
    listed = (await owner.http.get(f"/api/v1/orgs/{owner.org_id}/invitations")).json()
    assert invitation_id in [i["id"] for i in listed]
    revoked = await owner.http.delete(f"/api/v1/orgs/{owner.org_id}/invitations/{invitation_id}")
    assert revoked.status_code == 204
    late = await signup(client, link)
    assert late.status_code == 404 and late.json()["code"] == "invitation_invalid"
    listed = (await owner.http.get(f"/api/v1/orgs/{owner.org_id}/invitations")).json()
    assert invitation_id not in [i["id"] for i in listed]


async def test_an_invitation_expires(
    app: FastAPI,
    container: Container,
    client: httpx.AsyncClient,
    clock: FixedClock,
    settings: Settings,
) -> None:
    owner = await instance_owner(app, container)
    link = await invite(owner)
    clock.advance(timedelta(days=settings.invitation_days, seconds=1))
    late = await signup(client, link)
    assert late.status_code == 404 and late.json()["code"] == "invitation_invalid"


async def test_members_cannot_invite_and_admins_cannot_invite_owners(
    app: FastAPI, container: Container
) -> None:
    owner = await instance_owner(app, container)
    admin = await member(app, owner, "admin")
    pat = await member(app, owner)
    url = f"/api/v1/orgs/{owner.org_id}/invitations"
    assert (await pat.http.post(url, json={"role": "member"})).status_code == 403
    assert (await pat.http.get(url)).status_code == 403
    assert (await admin.http.post(url, json={"role": "owner"})).status_code == 403
    assert (await admin.http.post(url, json={"role": "admin"})).status_code == 201


# -- roles ---------------------------------------------------------------------------------


async def test_roles_change_within_the_rules_and_the_last_owner_stays(
    app: FastAPI, container: Container
) -> None:
    owner = await instance_owner(app, container)
    admin = await member(app, owner, "admin")
    pat = await member(app, owner)
    promote = await admin.http.patch(members_url(owner, pat.id), json={"role": "admin"})
    assert promote.status_code == 200 and promote.json()["role"] == "admin"
    assert (
        await admin.http.patch(members_url(owner, pat.id), json={"role": "owner"})
    ).status_code == 403
    assert (
        await admin.http.patch(members_url(owner, owner.id), json={"role": "member"})
    ).status_code == 403
    assert (
        await pat.http.patch(members_url(owner, admin.id), json={"role": "member"})
    ).status_code == 200

    last = await owner.http.patch(members_url(owner, owner.id), json={"role": "admin"})
    assert last.status_code == 409 and last.json()["code"] == "last_owner"
    assert (await owner.http.get("/api/v1/me")).json()["role"] == "owner"

    assert (
        await owner.http.patch(members_url(owner, pat.id), json={"role": "owner"})
    ).status_code == 200
    stepped_down = await owner.http.patch(members_url(owner, owner.id), json={"role": "admin"})
    assert stepped_down.status_code == 200 and stepped_down.json()["role"] == "admin"
    # The remaining owner is now the last one.
    last = await pat.http.patch(members_url(owner, pat.id), json={"role": "member"})
    assert last.json()["code"] == "last_owner"


async def test_a_plain_member_changes_no_roles(app: FastAPI, container: Container) -> None:
    owner = await instance_owner(app, container)
    pat, sam = await member(app, owner), await member(app, owner)
    response = await pat.http.patch(members_url(owner, sam.id), json={"role": "admin"})
    assert response.status_code == 403
    assert (
        await pat.http.patch(members_url(owner, pat.id), json={"role": "admin"})
    ).status_code == 403


# -- suspension ----------------------------------------------------------------------------


@pytest.mark.promise("P-ADM-1")
@pytest.mark.promise("P-ACC-4")
async def test_a_suspended_member_is_signed_out_everywhere_at_once(
    app: FastAPI, container: Container, client: httpx.AsyncClient
) -> None:
    owner = await instance_owner(app, container)
    pat = await member(app, owner)
    token = await token_for(pat)
    bearer = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/api/v1/me", headers=bearer)).status_code == 200

    suspended = await owner.http.patch(members_url(owner, pat.id), json={"status": "suspended"})
    assert suspended.status_code == 200 and suspended.json()["status"] == "suspended"
    assert (await pat.http.get("/api/v1/me")).status_code == 401
    assert (await client.get("/api/v1/me", headers=bearer)).status_code == 401
    again = await client.post(
        "/api/v1/auth/signin", json={"email": pat.email, "password": PASSWORD}
    )
    assert again.status_code == 403 and "suspended" in again.json()["detail"]

    back = await owner.http.patch(members_url(owner, pat.id), json={"status": "active"})
    assert back.json()["status"] == "active"
    assert (await client.get("/api/v1/me", headers=bearer)).status_code == 401  # stays ended
    signed_in = await client.post(
        "/api/v1/auth/signin", json={"email": pat.email, "password": PASSWORD}
    )
    assert signed_in.status_code == 200


async def test_nobody_suspends_themselves_or_the_last_owner(
    app: FastAPI, container: Container
) -> None:
    owner = await instance_owner(app, container)
    admin = await member(app, owner, "admin")
    own = await owner.http.patch(members_url(owner, owner.id), json={"status": "suspended"})
    assert own.status_code == 403
    by_admin = await admin.http.patch(members_url(owner, owner.id), json={"status": "suspended"})
    assert by_admin.status_code == 403
    assert (await owner.http.get("/api/v1/me")).status_code == 200


async def test_members_and_invitations_are_listed_for_admins(
    app: FastAPI, container: Container
) -> None:
    owner = await instance_owner(app, container)
    pat = await member(app, owner)
    listed = (await pat.http.get(members_url(owner))).json()
    assert {m["id"] for m in listed} == {owner.id, pat.id}
    renamed = await owner.http.patch(f"/api/v1/orgs/{owner.org_id}", json={"name": "Acme Ltd"})
    assert renamed.json()["name"] == "Acme Ltd"
    assert (
        await pat.http.patch(f"/api/v1/orgs/{owner.org_id}", json={"name": "Mine"})
    ).status_code == 403
