"""Sign-in through an organisation's OpenID Connect provider, against a real provider (P-ACC-6).

The provider is oidc-provider-mock in its own process on loopback. The "browser" is an HTTP
client that follows redirects between Parlour (in process) and the provider (over the network),
keeping cookies, as a browser does; the test plays the person at the provider's form.
"""

from __future__ import annotations

import html
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from parlour.container import Container
from parlour.core.clock import FixedClock
from parlour.features.accounts import store as accounts_store
from parlour.features.audit.models import AuditEntry
from parlour.features.sso import IdentityProvider, LinkedIdentity
from parlour.settings import Settings
from tests.support.html import parse_html
from tests.support.live import free_port
from tests.support.oidc import Provider, oidc_provider
from tests.support.world import Person, instance_owner, member, policy_version, second_org

pytestmark = pytest.mark.promise("P-ACC-6")
APP = "http://testserver"
DOMAIN = "example.org"  # the domain of every person tests.support.world makes
CLIENT_ID = "parlour-test-client"
CLIENT_SECRET = "client-secret-at-the-provider-0123"


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    with oidc_provider() as running:
        yield running


@pytest.fixture
def clock() -> FixedClock:
    """The provider stamps tokens with the real time, so Parlour's clock starts there too."""
    return FixedClock(datetime.now(UTC))


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        public_url=APP,
        secret_key="test-secret-key-that-is-long-enough-0123456789",
        password_time_cost=1,
        password_memory_cost=1024,
    )


@pytest.fixture
async def browser(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Parlour in process, the provider over the network, one cookie jar: like a browser."""
    parlour = httpx.ASGITransport(app=app, client=("203.0.113.57", 50123))
    mounts = {APP: parlour, "all://": httpx.AsyncHTTPTransport()}
    async with httpx.AsyncClient(mounts=mounts, base_url=APP, timeout=10) as client:
        yield client


@pytest.fixture
async def owner(app: FastAPI, container: Container, provider: Provider) -> AsyncIterator[Person]:
    person = await instance_owner(app, container)
    body = {
        "issuer": provider.issuer,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "domains": [DOMAIN],
    }
    response = await person.http.put(f"/api/v1/orgs/{person.org_id}/identity-provider", json=body)
    assert response.status_code == 200, response.text
    yield person
    await person.close()


async def to_provider(browser: httpx.AsyncClient, email: str) -> httpx.Response:
    """'Sign in with your organisation' on the sign-in page: ends at the provider's form."""
    page = await browser.get("/signin")
    form = {"csrf_token": parse_html(page.text).csrf, "email": email, "next": "/profile"}
    onward = await browser.post("/signin/sso", data=form)
    if onward.status_code != 200:
        return onward
    # A page that moves on by itself (meta refresh), with the same address as a link.
    link = next(u for u in parse_html(onward.text).links if "/oauth2/authorize" in u)
    assert f'content="0; url={link}"' in onward.text.replace("&amp;", "&")
    return await browser.get(html.unescape(link), follow_redirects=True)


async def as_person(
    browser: httpx.AsyncClient, at_provider: httpx.Response, sub: str, **change: str
) -> httpx.Response:
    """The person signs in at the provider as `sub`; `change` alters the authorization request
    on its way (what an attacker in the middle would do)."""
    url = urlsplit(str(at_provider.url))
    assert url.path == "/oauth2/authorize", at_provider.text
    query = {**dict(parse_qsl(url.query)), **change}
    target = urlunsplit(url._replace(query=urlencode(query)))
    return await browser.post(target, data={"sub": sub}, follow_redirects=True)


async def sign_in(
    browser: httpx.AsyncClient, provider: Provider, sub: str, email: str, **claims: object
) -> httpx.Response:
    provider.claims(sub, email=email, email_verified=True, **claims)
    return await as_person(browser, await to_provider(browser, email), sub)


async def refusals(container: Container) -> list[list[str]]:
    async with container.db.transaction() as uow:
        rows = await uow.session.scalars(
            select(AuditEntry).where(AuditEntry.action == "sso.refused").order_by(AuditEntry.seq)
        )
        return [json.loads(r.fields) for r in rows]


async def me(browser: httpx.AsyncClient) -> dict[str, object]:
    response = await browser.get("/api/v1/me")
    assert response.status_code == 200, response.text
    found: dict[str, object] = response.json()
    return found


# -- signing in -------------------------------------------------------------------------------


async def test_an_existing_account_signs_in_and_is_linked_by_its_verified_email(
    app: FastAPI,
    container: Container,
    provider: Provider,
    owner: Person,
    browser: httpx.AsyncClient,
) -> None:
    colleague = await member(app, owner)
    landed = await sign_in(browser, provider, "sub-colleague", colleague.email)
    assert landed.status_code == 200 and landed.url.path == "/profile", landed.text
    assert (await me(browser))["id"] == colleague.id
    links = (await browser.get("/api/v1/me/linked-identities")).json()
    assert [link["issuer"] for link in links] == [provider.issuer]
    async with container.db.transaction() as uow:
        stored = (await uow.session.scalars(select(LinkedIdentity))).one()
        secret = (await uow.session.scalars(select(IdentityProvider))).one().client_secret_sealed
    # Stored encrypted: neither the subject nor the client secret is readable in the database.
    assert "sub-colleague" not in stored.subject_sealed + stored.subject_digest
    assert CLIENT_SECRET not in secret
    await colleague.close()


async def test_later_sign_ins_match_the_provider_identity_not_the_email(
    app: FastAPI,
    container: Container,
    provider: Provider,
    owner: Person,
    browser: httpx.AsyncClient,
) -> None:
    colleague = await member(app, owner)
    await sign_in(browser, provider, "sub-mover", colleague.email)
    await browser.post("/signout", headers={"x-csrf-token": ""})
    browser.cookies.clear()
    # The provider now gives another address of the domain for the same person.
    landed = await sign_in(browser, provider, "sub-mover", "renamed@example.org")
    assert landed.url.path == "/profile"
    assert (await me(browser))["id"] == colleague.id
    await colleague.close()


async def test_a_new_person_gets_an_account_after_the_age_page_and_the_policy(
    container: Container, provider: Provider, owner: Person, browser: httpx.AsyncClient
) -> None:
    landed = await sign_in(browser, provider, "sub-new", "newcomer@example.org", name="Nia New")
    assert landed.url.path == "/signin/sso/new-account"
    page = parse_html(landed.text)
    assert page.field("name")["value"] == "Nia New"
    assert {"birth_date", "accept_policy"} <= {f.get("name") for f in page.fields}
    form = {
        "csrf_token": page.csrf,
        "name": "Nia New",
        "birth_date": "1990-04-02",
        "accept_policy": policy_version(),
    }
    done = await browser.post("/signin/sso/new-account", data=form, follow_redirects=True)
    assert done.status_code == 200 and done.url.path == "/profile", done.text
    mine = await me(browser)
    assert mine["email"] == "newcomer@example.org" and mine["org_id"] == owner.org_id
    async with container.db.transaction() as uow:
        user = await accounts_store.user_by_email(uow.session, "newcomer@example.org")
        assert user is not None and user.password_hash is None and user.role == "member"
        assert len(await accounts_store.acceptances_of(uow.session, user.id)) == 1


async def test_under_the_minimum_age_nothing_is_stored_and_the_words_are_sign_ups(
    container: Container, provider: Provider, owner: Person, browser: httpx.AsyncClient
) -> None:
    landed = await sign_in(browser, provider, "sub-young", "young@example.org")
    today = container.clock.now().date()
    form = {
        "csrf_token": parse_html(landed.text).csrf,
        "name": "Young One",
        "birth_date": date(today.year - 15, today.month, 1).isoformat(),
        "accept_policy": policy_version(),
    }
    refused = await browser.post("/signin/sso/new-account", data=form)
    assert refused.status_code == 422
    assert "You must be at least 16 years old to use this service." in refused.text
    async with container.db.transaction() as uow:
        assert await accounts_store.user_by_email(uow.session, "young@example.org") is None
        assert not list(await uow.session.scalars(select(LinkedIdentity)))


async def test_a_suspended_account_cannot_sign_in_through_the_provider(
    app: FastAPI,
    container: Container,
    provider: Provider,
    owner: Person,
    browser: httpx.AsyncClient,
) -> None:
    colleague = await member(app, owner)
    patch = {"status": "suspended"}
    answer = await owner.http.patch(
        f"/api/v1/orgs/{owner.org_id}/members/{colleague.id}", json=patch
    )
    assert answer.status_code == 200, answer.text
    refused = await sign_in(browser, provider, "sub-suspended", colleague.email)
    assert refused.status_code == 403
    assert "This account is suspended." in refused.text
    assert (await browser.get("/api/v1/me")).status_code == 401
    assert ["account_status"] in await refusals(container)
    await colleague.close()


# -- refusals ---------------------------------------------------------------------------------


async def test_a_changed_state_is_refused_and_audited(
    app: FastAPI,
    container: Container,
    provider: Provider,
    owner: Person,
    browser: httpx.AsyncClient,
) -> None:
    colleague = await member(app, owner)
    provider.claims("sub-state", email=colleague.email, email_verified=True)
    at_provider = await to_provider(browser, colleague.email)
    refused = await as_person(browser, at_provider, "sub-state", state="forged-state-value")
    assert refused.status_code == 400
    assert "sso_state_mismatch" in refused.text
    assert "started in another browser tab" in refused.text
    assert (await browser.get("/api/v1/me")).status_code == 401
    assert await refusals(container) == [["state"]]
    await colleague.close()


async def test_a_changed_nonce_is_refused_and_audited(
    app: FastAPI,
    container: Container,
    provider: Provider,
    owner: Person,
    browser: httpx.AsyncClient,
) -> None:
    colleague = await member(app, owner)
    provider.claims("sub-nonce", email=colleague.email, email_verified=True)
    at_provider = await to_provider(browser, colleague.email)
    refused = await as_person(browser, at_provider, "sub-nonce", nonce="someone-elses-nonce")
    assert refused.status_code == 401
    assert "sso_token_invalid" in refused.text
    assert "does not belong to this sign-in" in refused.text
    assert (await browser.get("/api/v1/me")).status_code == 401
    assert await refusals(container) == [["nonce"]]
    await colleague.close()


async def test_a_replayed_answer_is_refused(
    app: FastAPI,
    container: Container,
    provider: Provider,
    owner: Person,
    browser: httpx.AsyncClient,
) -> None:
    colleague = await member(app, owner)
    provider.claims("sub-replay", email=colleague.email, email_verified=True)
    at_provider = await to_provider(browser, colleague.email)
    flow_cookie = browser.cookies.get("parlour_sso")
    landed = await as_person(browser, at_provider, "sub-replay")
    assert landed.url.path == "/profile"
    callback = next(r for r in landed.history if r.url.path == "/signin/sso/callback").url
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url=APP,
        cookies={"parlour_sso": flow_cookie or ""},
    ) as thief:
        replayed = await thief.get(str(callback))
    assert replayed.status_code == 401
    assert "used already" in replayed.text
    assert "parlour_session" not in replayed.cookies
    assert await refusals(container) == [["replayed"]]
    await colleague.close()


async def test_an_unverified_email_is_refused(
    container: Container, provider: Provider, owner: Person, browser: httpx.AsyncClient
) -> None:
    provider.claims("sub-unverified", email=owner.email, email_verified=False)
    refused = await as_person(browser, await to_provider(browser, owner.email), "sub-unverified")
    assert refused.status_code == 403
    assert "has not verified your email address" in refused.text
    assert await refusals(container) == [["email_verified"]]
    async with container.db.transaction() as uow:
        assert not list(await uow.session.scalars(select(LinkedIdentity)))


async def test_an_unmapped_domain_is_refused_on_the_sign_in_page(
    container: Container, provider: Provider, owner: Person, browser: httpx.AsyncClient
) -> None:
    refused = await to_provider(browser, "someone@elsewhere.example")
    assert refused.status_code == 404
    assert refused.url.path == "/signin/sso"
    assert (
        "No organisation on this Parlour instance signs in with elsewhere.example" in refused.text
    )
    assert await refusals(container) == [["domain"]]


async def test_an_address_outside_the_organisations_domains_is_refused(
    container: Container, provider: Provider, owner: Person, browser: httpx.AsyncClient
) -> None:
    provider.claims("sub-outside", email="ana@elsewhere.example", email_verified=True)
    refused = await as_person(browser, await to_provider(browser, owner.email), "sub-outside")
    assert refused.status_code == 404
    assert "not in one of your organisation's domains" in html.unescape(refused.text)
    assert await refusals(container) == [["email_domain"]]


# -- the owner's settings and unlinking -------------------------------------------------------


async def test_only_an_owner_sets_up_the_provider_and_a_domain_has_one_organisation(
    app: FastAPI, container: Container, provider: Provider, owner: Person
) -> None:
    shown = (await owner.http.get(f"/api/v1/orgs/{owner.org_id}/identity-provider")).json()
    assert shown == {
        "issuer": provider.issuer,
        "client_id": CLIENT_ID,
        "domains": [DOMAIN],
        "redirect_uri": f"{APP}/signin/sso/callback",
        "client_secret_set": True,
    }
    admin = await member(app, owner, "admin")
    path = f"/api/v1/orgs/{admin.org_id}/identity-provider"
    assert (await admin.http.get(path)).json()["code"] == "forbidden"
    other = await second_org(app, owner)
    body = {"issuer": provider.issuer, "client_id": "x", "client_secret": "y", "domains": [DOMAIN]}
    taken = await other.http.put(f"/api/v1/orgs/{other.org_id}/identity-provider", json=body)
    assert taken.status_code == 409 and taken.json()["code"] == "sso_domain_taken"
    await admin.close()
    await other.close()


async def test_an_unreachable_provider_is_refused_before_anything_is_saved(
    container: Container, owner: Person
) -> None:
    body = {
        "issuer": f"http://127.0.0.1:{free_port()}",
        "client_id": "x",
        "client_secret": "y",
        "domains": ["unreachable.example"],
    }
    answer = await owner.http.put(f"/api/v1/orgs/{owner.org_id}/identity-provider", json=body)
    assert answer.status_code == 502 and answer.json()["code"] == "sso_provider_unreachable"
    assert (await owner.http.get(f"/api/v1/orgs/{owner.org_id}/identity-provider")).json()[
        "domains"
    ] == [DOMAIN]


async def test_a_person_unlinks_their_identity(
    container: Container, provider: Provider, owner: Person, browser: httpx.AsyncClient
) -> None:
    await sign_in(browser, provider, "sub-owner", owner.email)
    links = (await owner.http.get("/api/v1/me/linked-identities")).json()
    assert len(links) == 1
    gone = await owner.http.delete(f"/api/v1/me/linked-identities/{links[0]['id']}")
    assert gone.status_code == 204
    assert (await owner.http.get("/api/v1/me/linked-identities")).json() == []
    async with container.db.transaction() as uow:
        actions = list(await uow.session.scalars(select(AuditEntry.action)))
    assert {"sso.configure", "sso.link", "sso.unlink"} <= set(actions)


# -- the pages --------------------------------------------------------------------------------


async def test_the_owner_sets_up_sign_in_on_the_organisation_pages(
    app: FastAPI, provider: Provider, owner: Person
) -> None:
    assert "/org/sign-in" in parse_html((await owner.http.get("/org")).text).links
    page = await owner.http.get("/org/sign-in")
    assert page.status_code == 200
    assert f"{APP}/signin/sso/callback" in page.text
    assert CLIENT_SECRET not in page.text  # never shown again
    parsed = parse_html(page.text)
    assert parsed.field("issuer")["value"] == provider.issuer
    assert not parsed.unlabelled()
    form = {
        "csrf_token": parsed.csrf,
        "issuer": provider.issuer,
        "client_id": CLIENT_ID,
        "client_secret": "",  # empty keeps the stored one
        "domains": "example.org\nExample.NET, example.com",
    }
    saved = await owner.http.post("/org/sign-in", data=form, follow_redirects=True)
    assert saved.status_code == 200 and "Saved." in saved.text
    shown = (await owner.http.get(f"/api/v1/orgs/{owner.org_id}/identity-provider")).json()
    assert shown["domains"] == ["example.com", "example.net", "example.org"]
    wrong = await owner.http.post("/org/sign-in", data={**form, "domains": "not a domain!"})
    assert wrong.status_code == 422 and 'aria-invalid="true"' in wrong.text
    colleague = await member(app, owner)
    assert (await colleague.http.get("/org/sign-in")).status_code == 403
    await colleague.close()


async def test_a_person_unlinks_on_the_linked_identities_page(
    container: Container, provider: Provider, owner: Person, browser: httpx.AsyncClient
) -> None:
    await sign_in(browser, provider, "sub-page", owner.email)
    assert "/sessions/linked" in parse_html((await browser.get("/sessions")).text).links
    page = await browser.get("/sessions/linked")
    assert provider.issuer in page.text
    parsed = parse_html(page.text)
    action = next(f["action"] for f in parsed.forms if f.get("action", "").endswith("/unlink"))
    done = await browser.post(action, data={"csrf_token": parsed.csrf}, follow_redirects=True)
    assert "No identity provider is linked to your account." in done.text
    async with container.db.transaction() as uow:
        assert not list(await uow.session.scalars(select(LinkedIdentity)))


async def test_the_request_carries_pkce_and_a_sign_in_left_too_long_is_refused(
    app: FastAPI,
    container: Container,
    clock: FixedClock,
    provider: Provider,
    owner: Person,
    browser: httpx.AsyncClient,
) -> None:
    colleague = await member(app, owner)
    provider.claims("sub-slow", email=colleague.email, email_verified=True)
    at_provider = await to_provider(browser, colleague.email)
    query = dict(parse_qsl(urlsplit(str(at_provider.url)).query))
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert query["scope"] == "openid email profile" and query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == f"{APP}/signin/sso/callback"
    clock.advance(timedelta(minutes=11))  # the flow cookie lasts ten
    refused = await as_person(browser, at_provider, "sub-slow")
    assert refused.status_code == 400 and "sso_state_mismatch" in refused.text
    assert (await browser.get("/api/v1/me")).status_code == 401
    assert await refusals(container) == [["state"]]
    await colleague.close()
