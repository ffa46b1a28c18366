"""The account and organisation pages over HTTP: who sees what, forms, CSRF, errors, redirects."""

from __future__ import annotations

import io
from datetime import timedelta
from html import escape
from urllib.parse import urlparse

import httpx
import pytest
from fastapi import FastAPI
from PIL import Image
from sqlalchemy import func, select

from parlour.container import Container
from parlour.core.clock import FixedClock
from parlour.core.datamap import DATAMAP_KEY
from parlour.features.accounts.models import AuthSession, PolicyAcceptance, User
from parlour.features.orgs.models import Organisation
from tests.conftest import make_client
from tests.support.html import Parsed, parse_html
from tests.support.world import PASSWORD, Person, invite, join, policy_version

HTML = "text/html,application/xhtml+xml"
OPTIONAL = ("phone", "title", "department", "location")


def browser(app: FastAPI) -> httpx.AsyncClient:
    http = make_client(app)
    http.headers["accept"] = HTML
    return http


def local(link: str) -> str:
    parts = urlparse(link)
    return parts.path + ("?" + parts.query if parts.query else "")


async def page(http: httpx.AsyncClient, path: str, status: int = 200) -> Parsed:
    response = await http.get(path)
    assert response.status_code == status, (path, response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("text/html")
    return parse_html(response.text)


async def submit(
    http: httpx.AsyncClient, path: str, data: dict[str, str], *, token_from: str | None = None
) -> httpx.Response:
    """Posts a form the way a browser does: with the token the page it sits on carries."""
    parsed = await page(http, token_from or path.partition("?")[0])
    hidden = parsed.hidden_values(path)
    return await http.post(path, data={**hidden, "csrf_token": parsed.csrf, **data})


def account(email: str, **extra: str) -> dict[str, str]:
    return {
        "name": "Ada Lovelace",
        "email": email,
        "password": PASSWORD,
        "birth_date": "1990-04-02",
        "accept_policy": policy_version(),
        **extra,
    }


async def owner_via_setup(app: FastAPI, container: Container) -> httpx.AsyncClient:
    link = await container.orgs.setup_link()
    assert link is not None
    http = browser(app)
    form = {"org_name": "Acme", **account("owner@acme.example")}
    response = await submit(http, "/setup", form, token_from=local(link))
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/org?notice=welcome"
    return http


async def signed_in_browser(app: FastAPI, email: str) -> httpx.AsyncClient:
    http = browser(app)
    response = await submit(http, "/signin", {"email": email, "password": PASSWORD})
    assert response.status_code == 303, response.text
    return http


async def count(container: Container, model: type[object]) -> int:
    async with container.db.transaction() as uow:
        return await uow.session.scalar(select(func.count()).select_from(model)) or 0


def png(size: int = 8) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), (200, 40, 40)).save(out, format="PNG")
    return out.getvalue()


# -- reaching the pages -----------------------------------------------------------------------


async def test_home_sends_visitors_to_sign_in_and_members_to_chat(
    app: FastAPI, container: Container
) -> None:
    visitor = browser(app)
    assert (await visitor.get("/")).headers["location"] == "/signin"
    owner = await owner_via_setup(app, container)
    assert (await owner.get("/")).headers["location"] == "/chat"


async def test_every_page_renders_for_the_right_people(app: FastAPI, container: Container) -> None:
    owner = await owner_via_setup(app, container)
    api_owner = await instance_owner_from_pages(app, "owner@acme.example")
    person = await join(app, await invite(api_owner), email="member@acme.example")
    member = await signed_in_browser(app, person.email)
    visitor = browser(app)

    for path in ("/signin", "/reset", "/reset/confirm?token=abc", "/policy"):
        await page(visitor, path)
    for path in ("/profile", "/sessions", "/org", "/admin", "/admin/outbox"):
        await page(owner, path)
    for path in ("/profile", "/sessions"):
        await page(member, path)
    await page(member, "/org", 403)
    await page(member, "/admin", 404)
    await page(member, "/admin/outbox", 404)
    for path in ("/profile", "/sessions", "/org", "/admin", "/admin/outbox"):
        response = await visitor.get(path)
        assert response.status_code == 303
        assert response.headers["location"] == "/signin?next=" + path


async def instance_owner_from_pages(app: FastAPI, email: str) -> Person:
    """The owner made through /setup, as an API client (for the world helpers)."""
    http = make_client(app)
    response = await http.post("/api/v1/auth/signin", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    data = response.json()
    http.headers["X-CSRF-Token"] = data["csrf_token"]
    user = data["user"]
    return Person(user["id"], user["email"], user["org_id"], user["role"], http)


async def test_pages_are_not_in_the_openapi_document(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/api/v1/openapi.json")).json()["paths"]
    for path in ("/", "/signin", "/signup", "/setup", "/profile", "/sessions", "/org", "/admin"):
        assert path not in paths


async def test_unknown_address_is_an_html_404_page(app: FastAPI) -> None:
    visitor = browser(app)
    parsed = await page(visitor, "/no/such/page", 404)
    assert parsed.alerts == 1
    assert "/" in parsed.links


# -- first run --------------------------------------------------------------------------------


@pytest.mark.promise("P-ACC-4")
async def test_setup_link_makes_the_owner_once_and_signs_them_in(
    app: FastAPI, container: Container
) -> None:
    link = await container.orgs.setup_link()
    assert link is not None
    http = browser(app)
    form = await page(http, local(link))
    assert form.field("token")["value"] in link
    response = await submit(
        http, "/setup", {"org_name": "Acme", **account("o@acme.example")}, token_from=local(link)
    )
    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    assert "parlour_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Acme" in (await http.get("/org")).text

    again = browser(app)
    await page(again, local(link), 400)
    token = (await page(again, "/signin")).csrf
    second = await again.post(
        "/setup",
        data={
            "org_name": "Other",
            **account("x@acme.example"),
            "csrf_token": token,
            "token": form.field("token")["value"],
        },
    )
    assert second.status_code == 400
    assert await count(container, Organisation) == 1


# -- CSRF -------------------------------------------------------------------------------------


async def test_visitor_forms_need_the_double_submit_token(
    app: FastAPI, container: Container
) -> None:
    for path in ("/signin", "/signup", "/reset", "/reset/confirm", "/setup"):
        bare = make_client(app)
        response = await bare.post(path, data={"email": "a@b.example", "password": PASSWORD})
        assert response.status_code == 403, path
        assert response.json()["code"] == "csrf_failed"

        visitor = make_client(app)
        await visitor.get("/signin")  # sets the cookie
        assert visitor.cookies.get("parlour_csrf")
        wrong = await visitor.post(path, data={"email": "a@b.example", "csrf_token": "x" * 43})
        assert wrong.status_code == 403, path
        assert wrong.json()["code"] == "csrf_failed"


async def test_signed_in_forms_need_the_session_token(app: FastAPI, container: Container) -> None:
    owner = await owner_via_setup(app, container)
    for path, data in (
        ("/profile", {"name": "Mallory"}),
        ("/signout", {}),
        ("/sessions/revoke-others", {}),
        ("/org/invitations", {"role": "admin"}),
        ("/admin/orgs", {"org_name": "Evil"}),
    ):
        response = await owner.post(path, data={**data, "csrf_token": "forged"})
        assert response.status_code == 403, path
        assert "csrf_failed" in response.text
        missing = await owner.post(path, data=data)
        assert missing.status_code == 403, path
    assert "Mallory" not in (await owner.get("/profile")).text
    assert await count(container, Organisation) == 1
    ok = await submit(owner, "/profile", {"name": "Ada King"})
    assert ok.status_code == 303


# -- sign-up ----------------------------------------------------------------------------------


@pytest.mark.promise("P-ACC-1")
async def test_signup_page_says_what_each_field_is_for_from_the_data_map(
    app: FastAPI, container: Container
) -> None:
    await owner_via_setup(app, container)
    owner = await instance_owner_from_pages(app, "owner@acme.example")
    link = await invite(owner)
    visitor = browser(app)
    response = await visitor.get(local(link))
    parsed = parse_html(response.text)
    for name in ("name", "email", *OPTIONAL):
        description = User.__table__.c[name].info[DATAMAP_KEY].description
        assert escape(description[1:]) in response.text, name
        hint_id = f"f-{name}-hint"
        assert hint_id in parsed.field(name)["aria-describedby"]
    assert response.text.count("If you leave it empty, only this is unavailable.") == 4
    assert response.text.count("Required.") >= 4
    assert "never stored" in response.text
    assert f"/policy#v{policy_version()}" in parsed.links
    assert parsed.unlabelled() == []

    response = await submit(
        visitor,
        "/signup",
        {**account("new@acme.example"), "invitation": link.split("=")[1]},
        token_from=local(link),
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/profile?notice=welcome"
    async with container.db.transaction() as uow:
        user = await uow.session.scalar(select(User).where(User.email == "new@acme.example"))
    assert user is not None and user.phone is None and user.title is None


@pytest.mark.promise("P-ACC-2")
async def test_under_age_signup_on_the_page_stores_nothing(
    app: FastAPI, container: Container, clock: FixedClock
) -> None:
    await owner_via_setup(app, container)
    owner = await instance_owner_from_pages(app, "owner@acme.example")
    link = await invite(owner)
    before = [await count(container, m) for m in (User, PolicyAcceptance, AuthSession)]
    today = clock.now().date()
    too_young = today.replace(year=today.year - 16) + timedelta(days=1)
    visitor = browser(app)
    form = account("kid@acme.example", birth_date=too_young.isoformat(), phone="+1 555 0100")
    response = await submit(
        visitor, "/signup", {**form, "invitation": link.split("=")[1]}, token_from=local(link)
    )
    assert response.status_code == 422
    assert "at least 16" in response.text
    parsed = parse_html(response.text)
    assert parsed.alerts == 1
    assert parsed.field("birth_date")["aria-invalid"] == "true"
    assert "parlour_session" not in response.headers.get("set-cookie", "")
    after = [await count(container, m) for m in (User, PolicyAcceptance, AuthSession)]
    assert after == before


@pytest.mark.promise("P-ACC-3")
async def test_form_errors_keep_the_input_but_not_the_password(
    app: FastAPI, container: Container
) -> None:
    await owner_via_setup(app, container)
    owner = await instance_owner_from_pages(app, "owner@acme.example")
    link = await invite(owner)
    visitor = browser(app)
    form = account("not-an-email", password="short", title="Engineer")
    del form["accept_policy"]
    response = await submit(
        visitor, "/signup", {**form, "invitation": link.split("=")[1]}, token_from=local(link)
    )
    assert response.status_code == 422
    parsed = parse_html(response.text)
    assert parsed.alerts == 1
    assert parsed.field("name")["value"] == "Ada Lovelace"
    assert parsed.field("title")["value"] == "Engineer"
    assert "value" not in parsed.field("password")
    assert "short" not in response.text
    for name in ("email", "accept_policy"):
        assert parsed.field(name)["aria-invalid"] == "true"
        assert f"f-{name}-error" in parsed.field(name)["aria-describedby"]
        assert f"#f-{name}" in parsed.links
    assert "aria-invalid" not in parsed.field("title")


async def test_a_withdrawn_or_unknown_invitation_is_an_error_page(app: FastAPI) -> None:
    visitor = browser(app)
    parsed = await page(visitor, "/signup?invitation=" + "x" * 30, 404)
    assert parsed.alerts == 1


# -- sign-in, sign-out and reset --------------------------------------------------------------


async def test_sign_in_follows_next_only_to_local_paths(app: FastAPI, container: Container) -> None:
    await owner_via_setup(app, container)
    for sent, expected in (
        ("/profile", "/profile"),
        ("/sessions?x=1", "/sessions?x=1"),
        ("https://evil.example/", "/"),
        ("//evil.example/path", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("", "/"),
    ):
        http = browser(app)
        response = await submit(
            http, "/signin", {"email": "owner@acme.example", "password": PASSWORD, "next": sent}
        )
        assert response.status_code == 303, response.text
        assert response.headers["location"] == expected, sent
    again = await signed_in_browser(app, "owner@acme.example")
    assert (await again.get("/signin?next=//evil.example")).headers["location"] == "/"


async def test_wrong_password_shows_the_form_again(app: FastAPI, container: Container) -> None:
    await owner_via_setup(app, container)
    http = browser(app)
    response = await submit(http, "/signin", {"email": "owner@acme.example", "password": "nope"})
    assert response.status_code == 401
    parsed = parse_html(response.text)
    assert parsed.alerts == 1 and "Wrong email or password" in response.text
    assert parsed.field("email")["value"] == "owner@acme.example"


async def test_too_many_wrong_passwords_show_the_wait_on_the_form(
    app: FastAPI, container: Container
) -> None:
    await owner_via_setup(app, container)
    http = browser(app)
    for _ in range(container.settings.signin_max_failures_per_account):
        wrong = await submit(http, "/signin", {"email": "owner@acme.example", "password": "no"})
        assert wrong.status_code == 401
    blocked = await submit(http, "/signin", {"email": "owner@acme.example", "password": PASSWORD})
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) > 0
    assert parse_html(blocked.text).alerts == 1 and "Try again in" in blocked.text


@pytest.mark.promise("P-ACC-4")
async def test_sign_out_ends_the_session(app: FastAPI, container: Container) -> None:
    owner = await owner_via_setup(app, container)
    response = await submit(owner, "/signout", {}, token_from="/profile")
    assert response.status_code == 303
    assert 'parlour_session=""' in response.headers["set-cookie"]
    assert (await owner.get("/profile")).status_code == 303
    assert await count(container, AuthSession) == 0


async def test_reset_answers_the_same_whether_or_not_the_account_exists(
    app: FastAPI, container: Container
) -> None:
    await owner_via_setup(app, container)
    http = browser(app)
    known = await submit(http, "/reset", {"email": "owner@acme.example"})
    unknown = await submit(http, "/reset", {"email": "nobody@acme.example"})
    assert known.status_code == unknown.status_code == 303
    assert known.headers["location"] == unknown.headers["location"]
    mails = await container.mailer.recent()
    assert [m.to_addr for m in mails] == ["owner@acme.example"]

    link = next(w for w in mails[0].body.split() if "/reset/confirm?token=" in w)
    token = link.split("token=")[1]
    bad = await submit(http, "/reset/confirm", {"token": token, "new_password": "short"})
    assert bad.status_code == 422
    done = await submit(
        http, "/reset/confirm", {"token": token, "new_password": "a brand new passphrase"}
    )
    assert done.headers["location"] == "/signin?notice=password-reset"
    used = await submit(
        http, "/reset/confirm", {"token": token, "new_password": "another new passphrase"}
    )
    assert used.status_code == 400 and "expired or was used" in used.text


# -- profile and sessions ---------------------------------------------------------------------


@pytest.mark.promise("P-MSG-5")
async def test_profile_page_edits_details_and_picture_and_says_who_sees_them(
    app: FastAPI, container: Container
) -> None:
    owner = await owner_via_setup(app, container)
    parsed = await page(owner, "/profile")
    text = (await owner.get("/profile")).text
    assert "can be seen by the other members of Acme" in text
    assert parsed.unlabelled() == []

    saved = await submit(owner, "/profile", {"name": "Ada", "title": "CTO", "phone": "+44 1"})
    assert saved.headers["location"] == "/profile?notice=saved"
    parsed = await page(owner, "/profile?notice=saved")
    assert parsed.field("title")["value"] == "CTO"

    bad = await submit(owner, "/profile", {"name": "", "phone": "call me"})
    assert bad.status_code == 422
    assert parse_html(bad.text).field("phone")["value"] == "call me"

    token = (await page(owner, "/profile")).csrf
    upload = await owner.post(
        "/profile/avatar",
        data={"csrf_token": token},
        files={"avatar": ("me.png", png(), "image/png")},
    )
    assert upload.headers["location"] == "/profile?notice=avatar-saved"
    shown = await page(owner, "/profile")
    avatar = next(link for link in shown_images(await owner.get("/profile")))
    assert (await owner.get(avatar)).headers["content-type"] == "image/png"
    assert shown.csrf

    junk = await owner.post(
        "/profile/avatar",
        data={"csrf_token": token},
        files={"avatar": ("me.png", b"not a picture", "image/png")},
    )
    assert junk.status_code == 422
    assert parse_html(junk.text).field("avatar")["aria-invalid"] == "true"

    removed = await submit(owner, "/profile/avatar/remove", {}, token_from="/profile")
    assert removed.headers["location"] == "/profile?notice=avatar-removed"
    assert not shown_images(await owner.get("/profile"))


def shown_images(response: httpx.Response) -> list[str]:
    return [part.split('"')[0] for part in response.text.split('<img class="avatar" src="')[1:]]


async def test_password_change_on_the_profile_page(app: FastAPI, container: Container) -> None:
    owner = await owner_via_setup(app, container)
    wrong = await submit(
        owner,
        "/profile/password",
        {"current_password": "not it", "new_password": "a fresh passphrase"},
        token_from="/profile",
    )
    assert wrong.status_code == 401
    assert parse_html(wrong.text).field("current_password")["aria-invalid"] == "true"
    ok = await submit(
        owner,
        "/profile/password",
        {"current_password": PASSWORD, "new_password": "a fresh passphrase"},
        token_from="/profile",
    )
    assert ok.headers["location"] == "/profile?notice=password-changed"


@pytest.mark.promise("P-ACC-4")
async def test_sessions_page_lists_and_revokes_sessions(app: FastAPI, container: Container) -> None:
    first = await owner_via_setup(app, container)
    second = await signed_in_browser(app, "owner@acme.example")
    third = await signed_in_browser(app, "owner@acme.example")
    text = (await first.get("/sessions")).text
    assert "3 active sessions" in text and text.count("This session") == 1
    assert "203.0.113.0" in text and "203.0.113.57" not in text

    token = (await page(second, "/sessions")).csrf
    own_id = _own_session_id(text)
    assert own_id
    revoked = await second.post(f"/sessions/{own_id}/revoke", data={"csrf_token": token})
    assert revoked.headers["location"] == "/sessions?notice=revoked"
    assert (await first.get("/profile")).status_code == 303

    others = await submit(third, "/sessions/revoke-others", {}, token_from="/sessions")
    assert others.headers["location"] == "/sessions?notice=others-revoked"
    assert (await second.get("/profile")).status_code == 303
    assert "1 active session" in (await third.get("/sessions")).text


def _own_session_id(text: str) -> str:
    """The revoke address in the row marked 'This session'."""
    row = text.split('class="current"')[1]
    return row.split('action="/sessions/')[1].split("/")[0]


# -- the organisation and the instance --------------------------------------------------------


async def test_org_page_invites_by_link_once_and_manages_members(
    app: FastAPI, container: Container
) -> None:
    owner = await owner_via_setup(app, container)
    created = await submit(
        owner, "/org/invitations", {"role": "member", "email": ""}, token_from="/org"
    )
    assert created.status_code == 201
    link = parse_html(created.text).fields
    shown = [f["value"] for f in link if f.get("id") == "created-link"]
    assert len(shown) == 1 and "/signup?invitation=" in shown[0]
    later = (await owner.get("/org")).text
    assert shown[0] not in later and "Anyone with the link" in later

    person = await join(app, shown[0], email="member@acme.example")
    text = (await owner.get("/org")).text
    assert "member@acme.example" in text
    role = await submit(
        owner, f"/org/members/{person.id}/role", {"role": "admin"}, token_from="/org"
    )
    assert role.headers["location"] == "/org?notice=role-changed"
    suspend = await submit(
        owner, f"/org/members/{person.id}/status", {"status": "suspended"}, token_from="/org"
    )
    assert suspend.headers["location"] == "/org?notice=suspended"
    assert (await person.http.get("/api/v1/me")).status_code == 401
    await submit(owner, f"/org/members/{person.id}/status", {"status": "active"}, token_from="/org")
    reset = await submit(owner, f"/org/members/{person.id}/reset", {}, token_from="/org")
    assert reset.headers["location"] == "/org?notice=reset-forced"
    assert any(m.to_addr == "member@acme.example" for m in await container.mailer.recent())

    owner_id = (await owner.get("/api/v1/me", headers={"accept": "application/json"})).json()["id"]
    last = await submit(
        owner, f"/org/members/{owner_id}/role", {"role": "member"}, token_from="/org"
    )
    assert last.status_code == 409
    assert parse_html(last.text).alerts == 1

    inv_id = later.split('action="/org/invitations/')[1].split("/")[0]
    gone = await submit(owner, f"/org/invitations/{inv_id}/revoke", {}, token_from="/org")
    assert gone.headers["location"] == "/org?notice=revoked"
    assert (await browser(app).get(local(shown[0]))).status_code == 404


async def test_admin_creates_an_organisation_and_reads_the_outbox(
    app: FastAPI, container: Container
) -> None:
    owner = await owner_via_setup(app, container)
    bad = await submit(owner, "/admin/orgs", {"org_name": "", "min_age": "16"}, token_from="/admin")
    assert bad.status_code == 422
    assert parse_html(bad.text).field("org_name")["aria-invalid"] == "true"
    created = await submit(
        owner,
        "/admin/orgs",
        {"org_name": "Globex", "min_age": "18", "owner_email": "boss@globex.example"},
        token_from="/admin",
    )
    assert created.status_code == 201
    assert "Globex" in created.text
    outbox = await page(owner, "/admin/outbox")
    invitation = [link for link in outbox.links if "/signup?invitation=" in link]
    assert len(invitation) == 1
    assert "boss@globex.example" in (await owner.get("/admin/outbox")).text
