"""One organisation never sees another's data (P-ADM-3), walked over every route of the app.

Every route (JSON API and HTML pages, including ones added later) is found from the app
itself. Each path parameter must be one this walker knows how to fill with a real id of
organisation A; a route with a parameter it does not know fails the test by name, so nothing is
skipped in silence. People of organisation B (its owner, an admin, a member by cookie and the
same member by token) then call every such route with A's ids (all of them, and each one alone
among B's own) and must get 404, or exactly what an id that never existed gets.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from parlour.container import Container
from parlour.core.ids import new_id
from parlour.features.mfa.models import Passkey
from parlour.features.sso.models import LinkedIdentity
from parlour.settings import Settings
from tests.support.world import (
    PASSWORD,
    Person,
    instance_owner,
    member,
    say,
    second_org,
    token_for,
)

PARAM = re.compile(r"{([^}:]+)(?::[^}]+)?}")
EMOJI = "👍"
SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Organisation A's webhook points at loopback, which only tests may allow."""
    return settings.model_copy(update={"webhook_allow_http": True, "webhook_allow_private": True})


# Path parameters that name a thing of some organisation, and the key of World.ids it takes.
ID_PARAMS = {
    "org_id": "org",
    "user_id": "user",
    "conversation_id": "conversation",
    "message_id": "message",
    "invitation_id": "invitation",
    "session_id": "session",
    "call_id": "call",
    "export_id": "export",
    "hold_id": "hold",
    "request_id": "privacy_request",
    "key_id": "api_key",
    "webhook_id": "webhook",
    "link_id": "linked_identity",
    "passkey_id": "passkey",
}
# Path parameters that are not ids of anything, with the value to use and why.
VALUE_PARAMS = {"emoji": (EMOJI, "a reaction's character; the message id is what is guarded")}
# Routes left out on purpose, with the reason.
EXCLUDED = {
    "/api/v1/invitations/{secret}": "the secret is the permission: whoever holds it may look",
    "/static": "files of the web app, the same for everyone",
    "/api/v1/export/schemas/": "the public shape of an export file, the same for everyone",
    "/call/guest/": "the link's secret is the permission: it admits a guest to that one call only",
    "/unsubscribe/": "the signed token is the permission; it only withdraws its holder's consent",
}

# Bodies that get a request past validation to the access check (JSON for /api, forms else).
BODIES: dict[tuple[str, str], Callable[[dict[str, Any]], dict[str, Any]]] = {
    ("PATCH", "/api/v1/orgs/{org_id}"): lambda v: {"name": "Renamed"},
    ("PATCH", "/api/v1/orgs/{org_id}/members/{user_id}"): lambda v: {"role": "member"},
    ("POST", "/api/v1/orgs/{org_id}/invitations"): lambda v: {"role": "member"},
    ("PATCH", "/api/v1/conversations/{conversation_id}"): lambda v: {"name": "Renamed"},
    ("POST", "/api/v1/conversations/{conversation_id}/members"): lambda v: {
        "user_ids": [v["user_id"]]
    },
    ("PATCH", "/api/v1/conversations/{conversation_id}/members/{user_id}"): lambda v: {
        "role": "admin"
    },
    ("POST", "/api/v1/conversations/{conversation_id}/messages"): lambda v: {"body": "hello"},
    ("POST", "/api/v1/conversations/{conversation_id}/read"): lambda v: {
        "message_id": v["message_id"]
    },
    ("PATCH", "/api/v1/messages/{message_id}"): lambda v: {"body": "edited"},
    ("PATCH", "/api/v1/orgs/{org_id}/webhooks/{webhook_id}"): lambda v: {"state": "paused"},
    ("PUT", "/api/v1/orgs/{org_id}/identity-provider"): lambda v: {
        "issuer": "https://id.a.example",
        "client_id": "parlour",
        "client_secret": "s",
        "domains": ["a.example"],
    },
    ("POST", "/api/v1/me/second-factor/passkeys/{passkey_id}/remove"): lambda v: {
        "password": PASSWORD
    },
    ("POST", "/profile/security/passkeys/{passkey_id}/remove"): lambda v: {"password": PASSWORD},
    ("PUT", "/api/v1/orgs/{org_id}/second-factor"): lambda v: {"required": False},
    ("POST", "/api/v1/orgs/{org_id}/webhooks"): lambda v: {
        "url": "http://127.0.0.1:9/hook",
        "event_types": ["member.joined"],
    },
    ("POST", "/org/webhooks/{webhook_id}/state"): lambda v: {"state": "paused"},
    ("PUT", "/api/v1/me/contacts/{user_id}"): lambda v: {"nickname": "friend"},
    ("POST", "/api/v1/calls/{call_id}/accept"): lambda v: {"device_id": "b" * 32},
    ("POST", "/api/v1/calls/{call_id}/device"): lambda v: {"device_id": "b" * 32},
    ("POST", "/api/v1/calls/{call_id}/hangup"): lambda v: {"reason": "hangup"},
    ("POST", "/api/v1/calls/{call_id}/quality"): lambda v: {"jitter_ms": 3.0},
    ("POST", "/api/v1/orgs/{org_id}/holds"): lambda v: {"user_id": v["user_id"], "reason": "x"},
    ("POST", "/api/v1/calls/{call_id}/sfu/publish"): lambda v: {"sdp": SDP},
    ("POST", "/api/v1/calls/{call_id}/sfu/subscribe"): lambda v: {"feed": 1},
    ("POST", "/api/v1/calls/{call_id}/sfu/answer"): lambda v: {"handle": 1, "sdp": SDP},
    ("POST", "/api/v1/calls/{call_id}/sfu/trickle"): lambda v: {"handle": 1},
    ("POST", "/api/v1/privacy-requests/{request_id}/state"): lambda v: {"state": "in_progress"},
    ("POST", "/api/v1/privacy-requests/{request_id}/answer"): lambda v: {"answer": "x"},
    ("POST", "/api/v1/orgs/{org_id}/members/{user_id}/child"): lambda v: {"reason": "x"},
    ("POST", "/org/members/{user_id}/role"): lambda v: {"role": "member"},
    ("POST", "/org/members/{user_id}/status"): lambda v: {"status": "suspended"},
    ("POST", "/api/v1/orgs/{org_id}/api-keys"): lambda v: {"name": "k", "scopes": ["admin:read"]},
}


@dataclass(frozen=True)
class Target:
    method: str
    path: str
    params: tuple[str, ...]

    def url(self, values: dict[str, Any]) -> str:
        return PARAM.sub(lambda m: str(values[m.group(1)]), self.path)


def targets(app: FastAPI) -> tuple[list[Target], list[str]]:
    """Every HTTP route with a path parameter, and the ones this walker cannot fill."""
    found: list[Target] = []
    unknown: list[str] = []
    for route in iter_route_contexts(app.routes):
        path = route.path
        methods = route.methods or set()
        if path is None or any(path.startswith(p) for p in EXCLUDED) or not methods:
            continue
        params = tuple(PARAM.findall(path))
        if not params:
            continue
        strange = [p for p in params if p not in ID_PARAMS and p not in VALUE_PARAMS]
        if strange:
            unknown.append(f"{sorted(methods)} {path}: cannot fill {', '.join(strange)}")
            continue
        found.extend(Target(m, path, params) for m in sorted(methods - {"HEAD"}))
    return found, unknown


@dataclass
class World:
    """One organisation seen through its people, with one real id of each kind."""

    owner: Person
    admin: Person
    member: Person
    token: str
    ids: dict[str, Any] = field(default_factory=dict)
    marker: str = ""

    def values(self) -> dict[str, Any]:
        out = {param: self.ids[key] for param, key in ID_PARAMS.items()}
        out.update({param: value for param, (value, _why) in VALUE_PARAMS.items()})
        return out


async def build(app: FastAPI, root: Person, name: str) -> World:
    owner = await second_org(app, root, name)
    admin = await member(app, owner, "admin")
    pat = await member(app, owner)
    token = await token_for(pat)
    marker = f"marker-{name}-{uuid.uuid4().hex[:8]}"
    invitation = await owner.http.post(
        f"/api/v1/orgs/{owner.org_id}/invitations", json={"email": f"{marker}@example.org"}
    )
    group = await pat.http.post(
        "/api/v1/conversations",
        json={"kind": "group", "name": f"{marker} team", "member_ids": [owner.id, admin.id]},
    )
    conversation = group.json()["id"]
    message = await say(pat, conversation, f"{marker} secret plans")
    await owner.http.put(f"/api/v1/messages/{message['id']}/reactions/{EMOJI}")
    await pat.http.put(f"/api/v1/me/contacts/{owner.id}", json={"nickname": marker})
    sessions = (await pat.http.get("/api/v1/me/sessions")).json()
    ids = {
        "org": owner.org_id,
        "user": pat.id,
        "conversation": conversation,
        "message": message["id"],
        "invitation": invitation.json()["id"],
        "session": next(s["id"] for s in sessions if s["current"]),
        "call": None,
        "export": None,
        "hold": None,
        "privacy_request": None,
        "api_key": None,
        "webhook": None,
        "linked_identity": None,
        "passkey": None,
    }
    found, _unknown = targets(app)
    if any("call_id" in t.params for t in found):
        call = await pat.http.post(
            "/api/v1/calls", json={"conversation_id": conversation, "device_id": "a" * 32}
        )
        assert call.status_code == 201, call.text
        ids["call"] = call.json()["id"]
    if any("export_id" in t.params for t in found):
        export = await pat.http.post("/api/v1/me/export")
        assert export.status_code == 202, export.text
        ids["export"] = export.json()["id"]
    if any("hold_id" in t.params for t in found):
        hold = await owner.http.post(
            f"/api/v1/orgs/{owner.org_id}/holds", json={"user_id": admin.id, "reason": marker}
        )
        assert hold.status_code == 201, hold.text
        ids["hold"] = hold.json()["id"]
    if any("request_id" in t.params for t in found):
        body = {"name": marker, "email": pat.email, "kind": "access", "message": marker}
        opened = await owner.http.post("/api/v1/privacy/requests", json=body)
        assert opened.status_code == 202, opened.text
        ids["privacy_request"] = opened.json()["request_id"]
    if any("key_id" in t.params for t in found):
        key = await owner.http.post(
            f"/api/v1/orgs/{owner.org_id}/api-keys",
            json={"name": f"{marker} key", "scopes": ["messages:read"]},
        )
        assert key.status_code == 201, key.text
        ids["api_key"] = key.json()["id"]
    if any("webhook_id" in t.params for t in found):
        # A closed loopback port: this test's settings allow it, and nothing is ever sent out.
        hook = await owner.http.post(
            f"/api/v1/orgs/{owner.org_id}/webhooks",
            json={"url": "http://127.0.0.1:9/hook", "event_types": ["member.joined"]},
        )
        assert hook.status_code == 201, hook.text
        ids["webhook"] = hook.json()["id"]
    return World(owner, admin, pat, token, ids, marker)


async def fillers_are_real(world: World, app: FastAPI) -> None:
    """A's own people reach A's ids: a walker with bad ids would 404 for nothing."""
    ids, owner = world.ids, world.owner
    pages = {t.path for t in targets(app)[0]}
    for path in (
        *([f"/chat/{ids['conversation']}"] if "/chat/{conversation_id}" in pages else []),
        f"/api/v1/orgs/{ids['org']}",
        f"/api/v1/users/{ids['user']}",
        f"/api/v1/conversations/{ids['conversation']}",
        *([f"/api/v1/calls/{ids['call']}"] if ids["call"] else []),
        *([f"/api/v1/privacy-requests/{ids['privacy_request']}"] if ids["privacy_request"] else []),
    ):
        response = await owner.http.get(path)
        assert response.status_code == 200, (path, response.status_code)
    history = await owner.http.get(f"/api/v1/conversations/{ids['conversation']}/messages")
    assert ids["message"] in [m["id"] for m in history.json()]
    invitations = await owner.http.get(f"/api/v1/orgs/{ids['org']}/invitations")
    assert ids["invitation"] in [i["id"] for i in invitations.json()]
    if ids["api_key"]:
        keys = await owner.http.get(f"/api/v1/orgs/{ids['org']}/api-keys")
        assert ids["api_key"] in [k["id"] for k in keys.json()]
    sessions = await world.member.http.get("/api/v1/me/sessions")
    assert ids["session"] in [s["id"] for s in sessions.json()]


def never_existed(params: list[str]) -> dict[str, Any]:
    return {p: 2**40 + 7 if p == "message_id" else uuid.uuid4().hex for p in params}


def substitutions(target: Target) -> Iterator[tuple[str, list[str]]]:
    """All of A's ids; then, where there are several, each of A's ids among B's own."""
    ids = [p for p in target.params if p in ID_PARAMS]
    yield "all of A", ids
    if len(ids) > 1:
        for param in ids:
            yield f"A's {param}", [param]


async def call(http: httpx.AsyncClient, target: Target, values: dict[str, Any]) -> httpx.Response:
    make_body = BODIES.get((target.method, target.path))
    body = make_body(values) if make_body else None
    if target.path.startswith("/api/"):
        return await http.request(target.method, target.url(values), json=body)
    return await http.request(target.method, target.url(values), data=body)


@dataclass
class Actor:
    label: str
    http: httpx.AsyncClient


def actors_of(world: World, app: FastAPI) -> Iterator[Actor]:
    yield Actor("B owner", world.owner.http)
    yield Actor("B admin", world.admin.http)
    yield Actor("B member", world.member.http)
    transport = httpx.ASGITransport(app=app, client=("192.0.2.80", 40000))
    bearer = {"Authorization": f"Bearer {world.token}"}
    yield Actor(
        "B member token",
        httpx.AsyncClient(transport=transport, base_url="http://testserver", headers=bearer),
    )


async def linked_identity(container: Container, person: Person) -> str:
    """A sign-in link to an identity provider, as the sign-in flow leaves one (not run here)."""
    link = LinkedIdentity(
        id=new_id(),
        user_id=person.id,
        issuer="https://id.a.example",
        subject_digest=uuid.uuid4().hex * 2,
        subject_sealed="sealed",
        created_at=container.clock.now(),
    )
    async with container.db.transaction() as uow:
        uow.session.add(link)
        await uow.commit()
    return link.id


async def passkey(container: Container, person: Person) -> str:
    """A registered passkey, as the registration ceremony leaves one (not run here)."""
    key = Passkey(
        id=new_id(),
        user_id=person.id,
        name="Laptop",
        credential_id=uuid.uuid4().hex,
        public_key=b"not a real key",
        sign_count=0,
        transports="internal",
        created_at=container.clock.now(),
    )
    async with container.db.transaction() as uow:
        uow.session.add(key)
        await uow.commit()
    return key.id


@pytest.fixture
async def two_orgs(app: FastAPI, container: Container) -> tuple[World, World]:
    root = await instance_owner(app, container, "Operator")
    a = await build(app, root, "A")
    b = await build(app, root, "B")
    a.ids["linked_identity"] = await linked_identity(container, a.member)
    a.ids["passkey"] = await passkey(container, a.member)
    await fillers_are_real(a, app)
    return a, b


@pytest.mark.promise("P-ADM-3")
async def test_every_route_with_an_id_is_known_to_the_walker(app: FastAPI) -> None:
    found, unknown = targets(app)
    assert not unknown, "routes the cross-organisation walker cannot fill:\n" + "\n".join(unknown)
    assert len(found) >= 30


@pytest.mark.promise("P-ADM-3")
async def test_no_route_answers_organisation_b_with_organisation_a_data(
    app: FastAPI, two_orgs: tuple[World, World]
) -> None:
    a, b = two_orgs
    found, unknown = targets(app)
    assert not unknown
    leaks: list[str] = []
    checked = 0
    mine, theirs = b.values(), a.values()
    for actor in actors_of(b, app):
        for target in found:
            for label, params in substitutions(target):
                values = {**mine, **{p: theirs[p] for p in params}}
                response = await call(actor.http, target, values)
                checked += 1
                if response.status_code == 404:
                    continue
                # A refusal that any id gets (a member may not manage members) tells nothing;
                # an answer that differs from the one for an id that never existed does.
                control = await call(actor.http, target, {**values, **never_existed(params)})
                if response.status_code < 400 or control.status_code != response.status_code:
                    leaks.append(
                        f"{actor.label}: {target.method} {target.path} with {label} → "
                        f"{response.status_code}, for an id that never existed "
                        f"{control.status_code}"
                    )
                elif actor.label in ("B owner", "B admin") and label == "all of A":
                    leaks.append(
                        f"{actor.label}: {target.method} {target.path} with {label} → "
                        f"{response.status_code}; an admin should be told 'not found'"
                    )
    assert checked > 100
    assert not leaks, "organisation B learns of organisation A:\n" + "\n".join(leaks)
    await fillers_are_real(a, app)  # and nothing of A was changed or removed on the way


@pytest.mark.promise("P-ADM-3")
async def test_lists_and_pages_of_organisation_b_never_show_organisation_a(
    app: FastAPI, two_orgs: tuple[World, World]
) -> None:
    a, b = two_orgs
    secrets = [str(v) for k, v in a.ids.items() if k != "message" and v is not None] + [
        a.marker,
        a.member.email,
    ]
    queries = {
        "/api/v1/search": {"q": a.marker},
        "/api/v1/presence": {"user_id": [a.ids["user"], a.owner.id]},
    }
    pages: list[str] = []
    for route in iter_route_contexts(app.routes):
        path = route.path
        if (
            path is None
            or "GET" not in (route.methods or set())
            or "{" in path.replace("{org_id}", "")
        ):
            continue
        if any(path.startswith(p) for p in ("/static", "/api/docs", "/docs", "/health")):
            continue
        pages.append(path)
    assert "/api/v1/conversations" in pages and "/api/v1/orgs/{org_id}/members" in pages
    seen: list[str] = []
    for actor in actors_of(b, app):
        for path in pages:
            url = path.replace("{org_id}", b.ids["org"])
            response = await actor.http.get(url, params=queries.get(path))
            assert response.status_code < 500, (url, response.text)
            found = [s for s in secrets if s in response.text]
            if found:
                seen.append(f"{actor.label}: GET {url} shows {found}")
    assert not seen, "\n".join(seen)
    # The same lists do show B's own things, so the check above can fail.
    mine = await b.member.http.get("/api/v1/search", params={"q": b.marker})
    assert mine.json() and b.marker in mine.text


def test_the_walker_names_a_route_whose_parameter_it_cannot_fill() -> None:
    from fastapi import APIRouter

    extra = FastAPI()
    router = APIRouter()

    @router.get("/api/v1/gadgets/{gadget_id}")
    async def gadget(gadget_id: str) -> dict[str, str]:
        return {"id": gadget_id}

    @router.get("/api/v1/orgs/{org_id}/things")
    async def things(org_id: str) -> list[str]:
        return []

    extra.include_router(router)
    found, unknown = targets(extra)
    assert unknown == ["['GET'] /api/v1/gadgets/{gadget_id}: cannot fill gadget_id"]
    assert [t.path for t in found] == ["/api/v1/orgs/{org_id}/things"]
