"""Cookies over HTTP: the registry, the banner, no optional cookie without consent, GPC and DNT.

The route walk enumerates the app's routes at run time, so a route another feature adds later
is walked too, with and without a cookie choice, signed out and signed in.
"""

from __future__ import annotations

import re
from datetime import date

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from starlette.routing import Mount, WebSocketRoute

from parlour.container import Container
from parlour.features.consent import cookies
from parlour.features.consent.cookies import Category
from parlour.features.consent.models import ConsentEntry
from parlour.features.consent.rules import DataSubject
from tests.conftest import make_client
from tests.support.world import PASSWORD, instance_owner

BANNER = 'id="consent-banner"'
PATH_PARAM = re.compile(r"\{[^}]+\}")
LAST = ("signout", "revoke", "sessions/")  # routes that end the walker's own session go last


def registry(container: Container) -> tuple[cookies.Cookie, ...]:
    s = container.settings
    return cookies.registry(s.session_days, s.consent_days)


def cookie_problems(
    where: str, response: httpx.Response, consented: set[str], known: tuple[cookies.Cookie, ...]
) -> list[str]:
    """Every Set-Cookie that is unregistered, or optional without consent to its purpose."""
    problems = []
    for header in response.headers.get_list("set-cookie"):
        name = header.split("=", 1)[0].strip()
        category = cookies.category_of(name, known)
        if category is None:
            problems.append(f"{where} sets unregistered cookie {name}")
        elif category is not Category.STRICTLY_NECESSARY:
            purpose = cookies.purpose_of(category)
            if purpose is None or purpose not in consented:
                problems.append(f"{where} sets {category.value} cookie {name} without consent")
    return problems


def endpoints(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every HTTP route, path parameters filled with a dummy id."""
    try:
        from fastapi.routing import iter_route_contexts

        found = [(c.original_route, c.path, c.methods) for c in iter_route_contexts(app.routes)]
    except ImportError:  # older FastAPI keeps the routes flat
        found = [(r, getattr(r, "path", ""), getattr(r, "methods", None)) for r in app.routes]
    out = set()
    for route, path, methods in found:
        if isinstance(route, Mount | WebSocketRoute) or not methods or not path:
            continue
        for method in set(methods) - {"HEAD", "OPTIONS"}:
            out.add((method, PATH_PARAM.sub("0" * 32, path)))
    # Reads first, then writes, and last what would sign the walker out.
    return sorted(out, key=lambda e: (e[0] != "GET", any(w in e[1] for w in LAST), e))


async def walk(
    app: FastAPI, http: httpx.AsyncClient, consented: set[str], known: tuple[cookies.Cookie, ...]
) -> tuple[list[str], list[str]]:
    """Calls every endpoint; returns cookie problems and the HTML pages that showed the banner."""
    problems: list[str] = []
    bannered: list[str] = []
    for method, path in endpoints(app):
        kwargs = {} if method == "GET" else {"json": {}}
        response = await http.request(method, path, headers={"accept": "text/html"}, **kwargs)
        problems += cookie_problems(f"{method} {path}", response, consented, known)
        html = response.headers.get("content-type", "").startswith("text/html")
        if html and BANNER in response.text:
            bannered.append(f"{method} {path}")
    return problems, bannered


async def visitor_choice(http: httpx.AsyncClient, choice: str, **extra: str) -> httpx.Response:
    await http.get("/privacy/cookies")
    token = http.cookies.get(cookies.FORM_CSRF, "")
    body = {"csrf_token": token, "choice": choice, "next": "/privacy/cookies", **extra}
    return await http.post("/consent/cookies", data=body)


async def entries(container: Container) -> list[ConsentEntry]:
    async with container.db.transaction() as uow:
        return list(await uow.session.scalars(select(ConsentEntry).order_by(ConsentEntry.id)))


# -- the registry and the route walk ---------------------------------------------------------


@pytest.mark.promise("P-CNS-3")
def test_the_registry_names_our_cookies_in_the_five_categories(container: Container) -> None:
    known = registry(container)
    cookies.check_registry(known)
    assert {c.name: c.category for c in known} == {
        "parlour_session": Category.STRICTLY_NECESSARY,
        "parlour_csrf": Category.STRICTLY_NECESSARY,
        "parlour_consent": Category.STRICTLY_NECESSARY,
        "parlour_guest": Category.STRICTLY_NECESSARY,
        "parlour_sso": Category.STRICTLY_NECESSARY,
    }
    assert [c.value for c in Category] == [
        "strictly_necessary",
        "performance",
        "functionality",
        "targeting",
        "social_media",
    ]
    assert all(c.purpose and c.lifetime and c.description for c in known)


@pytest.mark.promise("P-CNS-3")
def test_the_checker_catches_unknown_and_unconsented_cookies() -> None:
    tracker = cookies.Cookie("tracker", Category.TARGETING, "marketing", "1 year", "ads")
    known = (*cookies.registry(30, 180), tracker)
    response = httpx.Response(
        200,
        headers=[
            ("set-cookie", "parlour_csrf=abc; Path=/"),
            ("set-cookie", "tracker=1; Path=/"),
            ("set-cookie", "_ga=GA1; Path=/"),
        ],
    )
    assert cookie_problems("GET /", response, set(), known) == [
        "GET / sets targeting cookie tracker without consent",
        "GET / sets unregistered cookie _ga",
    ]
    assert cookie_problems("GET /", response, {"marketing"}, known) == [
        "GET / sets unregistered cookie _ga"
    ]


@pytest.mark.promise("P-CNS-3")
async def test_every_route_sets_only_registered_cookies_with_and_without_a_choice(
    app: FastAPI, container: Container
) -> None:
    known = registry(container)
    assert len(endpoints(app)) > 50  # the walk really sees the application
    async with make_client(app) as visitor:
        problems, bannered = await walk(app, visitor, set(), known)
        assert problems == []
        assert "GET /privacy/cookies" in bannered and "GET /signin" in bannered
        assert (await visitor_choice(visitor, "accept_all")).status_code == 303
        problems, bannered = await walk(
            app, visitor, {"analytics", "personalisation", "marketing"}, known
        )
        assert problems == [] and bannered == []
    owner = await instance_owner(app, container)
    problems, bannered = await walk(app, owner.http, set(), known)
    assert problems == []
    assert "GET /privacy/centre" in bannered and "GET /profile" in bannered


@pytest.mark.promise("P-CNS-3")
async def test_a_signed_in_walk_after_reject_all_sets_nothing_optional(
    app: FastAPI, container: Container
) -> None:
    owner = await instance_owner(app, container)
    response = await owner.http.post(
        "/consent/cookies", data={"choice": "reject_all", "next": "/profile"}
    )
    assert response.status_code == 303 and response.headers["location"] == "/profile"
    problems, bannered = await walk(app, owner.http, set(), registry(container))
    assert problems == [] and bannered == []


# -- the banner ------------------------------------------------------------------------------


@pytest.mark.promise("P-CNS-3")
async def test_before_a_choice_only_strictly_necessary_cookies_are_set(app: FastAPI) -> None:
    async with make_client(app) as visitor:
        page = await visitor.get("/signin")
        assert page.status_code == 200 and BANNER in page.text
        assert set(visitor.cookies.keys()) == {"parlour_csrf"}
        # Reject and Accept are the same element with the same class: equally prominent.
        reject = re.search(r"<(\w+)([^>]*)value=\"reject_all\"([^>]*)>", page.text)
        accept = re.search(r"<(\w+)([^>]*)value=\"accept_all\"([^>]*)>", page.text)
        assert reject and accept
        assert reject.group(1) == accept.group(1) == "button"
        assert reject.group(2) == accept.group(2) and reject.group(3) == accept.group(3)
        assert "<summary>Choose</summary>" in page.text
        # No wall: the page behind the banner is whole, its own form included.
        assert 'action="/signin"' in page.text


@pytest.mark.promise("P-CNS-3")
async def test_the_banner_works_without_javascript_and_is_recorded(
    app: FastAPI, container: Container
) -> None:
    async with make_client(app) as visitor:
        response = await visitor_choice(visitor, "custom", purpose="personalisation")
        assert response.status_code == 303
        assert response.headers["location"] == "/privacy/cookies"
        set_cookie = response.headers["set-cookie"]
        assert set_cookie.startswith("parlour_consent=") and "HttpOnly" in set_cookie
        assert f"Max-Age={180 * 86400}" in set_cookie
        page = await visitor.get("/privacy/cookies")
        assert BANNER not in page.text
        assert "You chose on this browser: Remembering your preferences." in page.text
    rows = await entries(container)
    assert {(e.purpose, e.decision) for e in rows} == {
        ("analytics", "withdrawn"),
        ("personalisation", "given"),
        ("marketing", "withdrawn"),
    }
    assert {e.how for e in rows} == {"banner"} and {e.user_id for e in rows} == {None}
    visitor_ids = {e.visitor_id for e in rows}
    assert len(visitor_ids) == 1 and None not in visitor_ids


@pytest.mark.promise("P-CNS-3")
async def test_the_script_path_gets_json_and_bad_posts_are_refused(app: FastAPI) -> None:
    async with make_client(app) as visitor:
        await visitor.get("/privacy/cookies")
        token = visitor.cookies["parlour_csrf"]
        ok = await visitor.post(
            "/consent/cookies",
            data={"csrf_token": token, "choice": "reject_all"},
            headers={"accept": "application/json"},
        )
        assert ok.status_code == 200 and ok.json() == {"chosen": True, "given": []}
        bad = await visitor.post(
            "/consent/cookies",
            data={"csrf_token": token, "choice": "custom", "purpose": "provide_service"},
        )
        assert bad.status_code == 422
        forged = await visitor.post("/consent/cookies", data={"choice": "accept_all"})
        assert forged.status_code == 403
        elsewhere = await visitor.post(
            "/consent/cookies",
            data={"csrf_token": token, "choice": "reject_all", "next": "//evil.example/"},
        )
        assert elsewhere.headers["location"] == "/"


@pytest.mark.promise("P-CNS-3")
async def test_a_forged_choice_cookie_is_ignored(app: FastAPI) -> None:
    async with make_client(app) as visitor:
        visitor.cookies.set("parlour_consent", "f" * 32 + "~2026-11-01~analytics.bad", "testserver")
        page = await visitor.get("/privacy/cookies")
        assert BANNER in page.text


@pytest.mark.promise("P-CNS-2")
async def test_a_choice_made_before_signing_in_follows_the_person(
    app: FastAPI, container: Container
) -> None:
    owner = await instance_owner(app, container)
    async with make_client(app) as browser:
        await visitor_choice(browser, "accept_all")
        signin = await browser.post(
            "/api/v1/auth/signin", json={"email": owner.email, "password": PASSWORD}
        )
        assert signin.status_code == 200
        page = await browser.get("/profile")
        assert BANNER not in page.text
    mine = [e for e in await entries(container) if e.user_id == owner.id]
    assert {(e.purpose, e.decision, e.how) for e in mine} == {
        ("analytics", "given", "banner"),
        ("personalisation", "given", "banner"),
        ("marketing", "given", "banner"),
    }


@pytest.mark.promise("P-CNS-3")
async def test_the_cookie_page_lists_the_registry_and_the_categories(
    app: FastAPI, container: Container
) -> None:
    async with make_client(app) as visitor:
        page = await visitor.get("/privacy/cookies")
    for cookie in registry(container):
        assert f"<code>{cookie.name}</code>" in page.text
    for info in cookies.CATEGORIES.values():
        assert f"<dt>{info.name}</dt>" in page.text


# -- P-CNS-4: Global Privacy Control and Do Not Track ---------------------------------------


@pytest.mark.promise("P-CNS-4")
async def test_gpc_is_an_opt_out_recorded_once_and_honoured_over_consent(
    app: FastAPI, container: Container
) -> None:
    owner = await instance_owner(app, container)
    await owner.http.put(
        "/api/v1/me/consents",
        json={"purposes": {"analytics": {"consent": True}, "marketing": {"consent": True}}},
    )
    owner.http.headers["Sec-GPC"] = "1"
    for _ in range(3):
        page = await owner.http.get("/privacy/centre")
        assert "Your browser sends Global Privacy Control" in page.text
    signalled = [(e.purpose, e.decision) for e in await entries(container) if e.how == "gpc"]
    assert sorted(signalled) == [("analytics", "withdrawn"), ("marketing", "withdrawn")]
    assert await container.analytics.views_today() == {}
    subject = DataSubject(user_id=owner.id)  # even with no signal on a later request
    assert not await container.consent.may_process(subject, "analytics")
    assert not await container.consent.may_process(subject, "marketing")
    assert await container.consent.may_process(subject, "provide_service")


@pytest.mark.promise("P-CNS-4")
async def test_dnt_opts_a_visitor_out_and_is_recorded_as_dnt(
    app: FastAPI, container: Container
) -> None:
    async with make_client(app) as visitor:
        visitor.headers["DNT"] = "1"
        await visitor_choice(visitor, "accept_all")
        await visitor.get("/privacy/cookies")
        await visitor.get("/privacy/cookies")
    rows = await entries(container)
    assert sorted((e.purpose, e.decision) for e in rows if e.how == "dnt") == [
        ("analytics", "withdrawn"),
        ("marketing", "withdrawn"),
    ]
    [visitor_id] = {e.visitor_id for e in rows}
    subject = DataSubject(visitor_id=visitor_id)
    assert not await container.consent.may_process(subject, "analytics")
    assert await container.consent.may_process(subject, "personalisation")
    assert await container.analytics.views_today() == {}


@pytest.mark.promise("P-CNS-4")
async def test_the_gpc_statement_is_served(app: FastAPI) -> None:
    async with make_client(app) as visitor:
        response = await visitor.get("/.well-known/gpc.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["gpc"] is True and set(body) == {"gpc", "lastUpdate"}
    date.fromisoformat(body["lastUpdate"])
