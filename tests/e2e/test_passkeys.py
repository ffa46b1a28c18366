"""Passkeys in a real browser: Chromium's virtual authenticator (through the DevTools protocol)
registers a passkey on the security page, then signs in with password and passkey (P-ACC-6).

WebAuthn needs a secure context, and http://localhost is one (127.0.0.1 is not for every
browser), so this test serves the app on a chosen port and names it `localhost`: the relying
party id is then `localhost`, as PARLOUR_PUBLIC_URL says.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlparse

import pyotp
import pytest
from fastapi import FastAPI
from playwright.async_api import Browser, Page, expect
from sqlalchemy import select

from parlour.container import Container
from parlour.core.clock import FixedClock
from parlour.features.mfa.models import Passkey
from parlour.settings import Settings
from tests.e2e.test_account_pages import check
from tests.support.live import free_port, serving
from tests.support.world import PASSWORD, instance_owner, member

PHONE = {"width": 390, "height": 844}
AUTHENTICATOR = {
    "protocol": "ctap2",
    "transport": "internal",
    "hasResidentKey": True,
    "hasUserVerification": True,
    "isUserVerified": True,
}


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def settings(settings: Settings, port: int) -> Settings:
    return settings.model_copy(update={"public_url": f"http://localhost:{port}"})


@pytest.fixture
async def base_url(app: FastAPI, port: int) -> AsyncIterator[str]:
    async with serving(app, port):
        yield f"http://localhost:{port}"


async def sign_in_with_password(page: Page, base_url: str, email: str) -> None:
    await page.goto(base_url + "/signin?next=/profile/security")
    await page.get_by_label("Email", exact=True).fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in", exact=True).click()


@pytest.mark.promise("P-ACC-6")
async def test_register_a_passkey_then_sign_in_with_it(
    app: FastAPI, container: Container, browser: Browser, base_url: str, clock: FixedClock
) -> None:
    owner = await instance_owner(app, container)
    pat = await member(app, owner)
    context = await browser.new_context(viewport=PHONE)
    page = await context.new_page()
    cdp = await context.new_cdp_session(page)
    await cdp.send("WebAuthn.enable")
    added = await cdp.send("WebAuthn.addVirtualAuthenticator", {"options": AUTHENTICATOR})
    authenticator = added["authenticatorId"]

    await sign_in_with_password(page, base_url, pat.email)
    await page.wait_for_url(base_url + "/profile/security")
    await check(page, "security-off")
    await page.get_by_label("Name of the new passkey").fill("Test phone")
    await page.get_by_role("button", name="Add a passkey").click()
    codes = page.locator("[data-passkey-code-list] code")
    await expect(codes).to_have_count(10)
    await check(page, "security-passkey-codes")
    await page.get_by_role("link", name="Done").click()
    await expect(page.locator("[data-passkey-name]")).to_have_text(["Test phone"])
    await check(page, "security-passkey")
    stored = await cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})
    assert len(stored["credentials"]) == 1

    await context.clear_cookies()  # signed out; the authenticator stays with the page
    await sign_in_with_password(page, base_url, pat.email)
    await page.wait_for_url(base_url + "/signin/verify?next=/profile/security")
    await check(page, "signin-verify")
    assert "parlour_session" not in {c["name"] for c in await context.cookies()}
    await page.get_by_role("button", name="Use a passkey").click()
    await page.wait_for_url(base_url + "/profile/security")
    assert urlparse(page.url).path == "/profile/security"
    assert "parlour_session" in {c["name"] for c in await context.cookies()}
    async with container.db.transaction() as uow:
        passkey = await uow.session.scalar(select(Passkey))
    assert passkey is not None and passkey.last_used_at is not None
    assert passkey.name == "Test phone" and "internal" in passkey.transports

    # The authenticator app beside it: the QR code and the key fit the phone too.
    await page.get_by_role("button", name="Set up an authenticator app").click()
    secret = (await page.locator("[data-totp-secret]").text_content() or "").strip()
    await expect(page.locator(".qr svg")).to_be_visible()
    await check(page, "security-totp-setup")
    await page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).at(clock.now()))
    await page.get_by_role("button", name="Turn on").click()
    await expect(page.get_by_text("On", exact=True)).to_be_visible()
    await expect(page.locator("[data-recovery-codes] code")).to_have_count(0)  # had codes
    await check(page, "security-both")
    await context.close()
