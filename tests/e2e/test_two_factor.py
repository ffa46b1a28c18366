"""Two-factor sign-in in a real browser at phone width: an owner signs in with password and an
authenticator code, requires a second factor for the organisation on /org, and a member who has
none is sent to set one up right after signing in (P-ACC-6)."""

from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest
from fastapi import FastAPI
from playwright.async_api import Browser, Page, expect

from parlour.container import Container
from parlour.core.clock import FixedClock
from tests.e2e.test_account_pages import check
from tests.support.world import PASSWORD, instance_owner, member

PHONE = {"width": 390, "height": 844}


async def password_step(page: Page, base_url: str, email: str) -> None:
    await page.goto(base_url + "/signin?next=/chat")
    await page.get_by_label("Email", exact=True).fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in", exact=True).click()


@pytest.mark.promise("P-ACC-6")
async def test_an_owner_requires_it_and_a_member_is_sent_to_enrol(
    app: FastAPI, container: Container, browser: Browser, base_url: str, clock: FixedClock
) -> None:
    owner = await instance_owner(app, container)
    pat = await member(app, owner)
    secret = (await owner.http.post("/api/v1/me/second-factor/totp")).json()["secret"]
    confirmed = await owner.http.post(
        "/api/v1/me/second-factor/totp/confirm", json={"code": pyotp.TOTP(secret).at(clock.now())}
    )
    assert confirmed.status_code == 200, confirmed.text
    clock.advance(timedelta(seconds=30))  # the confirming code's step is spent

    context = await browser.new_context(viewport=PHONE)
    page = await context.new_page()
    await password_step(page, base_url, owner.email)
    await page.wait_for_url(base_url + "/signin/verify?next=/chat")
    await page.get_by_label("Code from your authenticator app").fill("000000")
    await page.get_by_role("button", name="Confirm").click()
    await expect(page.get_by_role("alert")).to_contain_text("not right")
    await check(page, "verify-wrong-code")
    await page.get_by_label("Code from your authenticator app").fill(
        pyotp.TOTP(secret).at(clock.now())
    )
    await page.get_by_role("button", name="Confirm").click()
    await page.wait_for_url(base_url + "/chat")

    await page.goto(base_url + "/org")
    await page.get_by_label("Require two-factor sign-in for every member").check()
    await page.locator("form[action='/org/two-factor']").get_by_role("button").click()
    await page.wait_for_url(base_url + "/org?notice=settings-saved")
    await expect(page.get_by_text("Required", exact=True)).to_be_visible()
    await check(page, "org-two-factor")
    await context.close()

    context = await browser.new_context(viewport=PHONE)
    page = await context.new_page()
    await password_step(page, base_url, pat.email)
    await page.wait_for_url(base_url + "/profile/security?notice=required")
    await expect(page.get_by_role("note")).to_contain_text("requires two-factor sign-in")
    await check(page, "security-required")
    await page.goto(base_url + "/chat")
    assert page.url == base_url + "/profile/security?notice=required"
    await context.close()
