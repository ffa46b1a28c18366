"""A newcomer signs in through their organisation's identity provider in Chromium, at 390 px
(P-ACC-6): the sign-in page, the provider's form (oidc-provider-mock, a real provider), the
new-account page with the age check, and in. The owner's settings page is checked at 390 px
too. Screenshots go to test-shots/ (or PARLOUR_TEST_SHOTS) for a person to look at."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi import FastAPI
from playwright.async_api import Browser, Page, Route, ViewportSize, expect

from parlour.container import Container
from parlour.core.clock import FixedClock
from parlour.settings import Settings
from tests.support.browser import SHOTS, horizontal_overflow
from tests.support.live import free_port, serving
from tests.support.oidc import Provider, oidc_provider
from tests.support.world import PASSWORD, instance_owner

pytestmark = pytest.mark.promise("P-ACC-6")
PHONE: ViewportSize = {"width": 390, "height": 844}


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime.now(UTC))  # the provider stamps its tokens with the real time


@pytest.fixture
def settings(tmp_path: Path, database_url: str, port: int) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        public_url=f"http://127.0.0.1:{port}",
        secret_key="test-secret-key-that-is-long-enough-0123456789",
        password_time_cost=1,
        password_memory_cost=1024,
    )


@pytest.fixture
async def base_url(app: FastAPI, port: int) -> AsyncIterator[str]:
    async with serving(app, port) as address:
        yield f"http://{address}"


@pytest.fixture
def provider() -> Iterator[Provider]:
    with oidc_provider() as running:
        yield running


async def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


async def offline(route: Route) -> None:
    """The provider's form links a stylesheet on a CDN; the test machine stays offline."""
    await route.abort()


async def test_a_newcomer_signs_in_through_the_organisation_at_390px(
    app: FastAPI, container: Container, browser: Browser, base_url: str, provider: Provider
) -> None:
    owner = await instance_owner(app, container)
    body = {
        "issuer": provider.issuer,
        "client_id": "parlour-e2e",
        "client_secret": "e2e-client-secret",
        "domains": ["example.org"],
    }
    configured = await owner.http.put(f"/api/v1/orgs/{owner.org_id}/identity-provider", json=body)
    assert configured.status_code == 200, configured.text
    provider.claims("sub-e2e", email="newbie@example.org", email_verified=True, name="Nova Bie")

    context = await browser.new_context(viewport=PHONE, base_url=base_url)
    await context.route("https://cdn.jsdelivr.net/**", offline)
    page = await context.new_page()
    await page.goto("/signin")
    await page.get_by_label("Work email").fill("newbie@example.org")
    assert await horizontal_overflow(page) == 0
    await shot(page, "sso-signin-390")
    await page.get_by_role("button", name="Sign in with your organisation").click()

    await page.wait_for_url(f"{provider.issuer}/oauth2/authorize**")
    await page.locator("input[name=sub]").fill("sub-e2e")
    await page.get_by_role("button", name="Authorize").click()

    await page.wait_for_url("**/signin/sso/new-account")
    await expect(page.get_by_label("Your name")).to_have_value("Nova Bie")
    assert await horizontal_overflow(page) == 0
    await page.get_by_label("Date of birth").fill("1990-04-02")
    await page.get_by_role("checkbox").check()
    await shot(page, "sso-new-account-390")
    await page.get_by_role("button", name="Create account").click()

    await page.wait_for_url("**/profile?notice=welcome")
    await expect(page.get_by_role("status")).to_contain_text("Welcome to Parlour")
    await shot(page, "sso-welcome-390")
    me = await context.request.get("/api/v1/me")
    assert (await me.json())["email"] == "newbie@example.org"
    await context.close()
    await owner.close()


async def test_the_owners_sign_in_settings_fit_a_phone(
    app: FastAPI, container: Container, browser: Browser, base_url: str, provider: Provider
) -> None:
    owner = await instance_owner(app, container)
    context = await browser.new_context(viewport=PHONE, base_url=base_url)
    signed = await context.request.post(
        "/api/v1/auth/signin", data={"email": owner.email, "password": PASSWORD}
    )
    assert signed.ok, await signed.text()
    page = await context.new_page()
    await page.goto("/org")
    await page.get_by_role("link", name="Sign-in with your identity provider").click()
    await page.get_by_label("Issuer address").fill(provider.issuer)
    await page.get_by_label("Client id").fill("parlour-e2e")
    await page.get_by_label("Client secret").fill("e2e-client-secret")
    await page.get_by_label("Email domains").fill("example.org\nexample.net")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status")).to_contain_text("Saved.")
    assert await horizontal_overflow(page) == 0
    await shot(page, "sso-org-settings-390")
    await context.close()
    await owner.close()
