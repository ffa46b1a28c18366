"""Accounts in a real browser at phone width: setup, invitation, sign-up, profile, sessions."""

from __future__ import annotations

import io
import os
from pathlib import Path
from urllib.parse import urlparse

import pytest
from PIL import Image
from playwright.async_api import Browser, BrowserContext, Page, expect

from parlour.container import Container
from tests.support.browser import horizontal_overflow
from tests.support.world import PASSWORD, policy_version

PHONE = {"width": 375, "height": 740}
# Set SCREENSHOT_DIR to keep a picture of each page the test visits.
SHOTS = os.environ.get("SCREENSHOT_DIR")

UNLABELLED = """() => Array.from(document.querySelectorAll('input, select, textarea'))
  .filter(el => el.type !== 'hidden' && el.getClientRects().length > 0)
  .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                && !el.getAttribute('aria-labelledby'))
  .map(el => el.name || el.id || el.outerHTML)"""


def tiny_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (48, 48), (26, 86, 184)).save(out, format="PNG")
    return out.getvalue()


async def phone(browser: Browser) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(viewport=PHONE)
    return context, await context.new_page()


async def check(page: Page, shot: str | None = None) -> None:
    """Every page we visit fits the phone and labels every field it shows."""
    assert await horizontal_overflow(page) == 0, page.url
    assert await page.evaluate(UNLABELLED) == [], page.url
    if SHOTS and shot:
        await page.screenshot(path=str(Path(SHOTS) / f"{shot}.png"), full_page=True)


async def visit(page: Page, url: str, shot: str | None = None) -> None:
    response = await page.goto(url)
    assert response is not None and response.ok, (url, response and response.status)
    await check(page, shot)


async def fill_account(page: Page, name: str, email: str | None) -> None:
    await page.get_by_label("Your name").fill(name)
    if email:
        await page.get_by_label("Email", exact=True).fill(email)
    await page.get_by_label("Password", exact=True).fill(PASSWORD)
    await page.get_by_label("Date of birth").fill("1990-04-02")
    await page.get_by_label(
        f"I have read and accept the privacy policy, version {policy_version()}"
    ).check()


async def sign_in(page: Page, base_url: str, email: str, then: str) -> None:
    await page.goto(base_url + then)
    assert urlparse(page.url).path == "/signin"
    await check(page, "signin")
    await page.get_by_label("Email", exact=True).fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in", exact=True).click()
    await page.wait_for_url(base_url + then)


@pytest.mark.promise("P-ACC-1")
@pytest.mark.promise("P-ACC-4")
@pytest.mark.promise("P-MSG-5")
async def test_setup_invite_sign_up_profile_and_sessions_at_phone_width(
    browser: Browser, base_url: str, container: Container
) -> None:
    setup_link = await container.orgs.setup_link()
    assert setup_link is not None
    parts = urlparse(setup_link)

    # The operator opens the setup link and becomes the owner.
    owner_ctx, owner = await phone(browser)
    await visit(owner, f"{base_url}{parts.path}?{parts.query}", "setup")
    await owner.get_by_label("Organisation name").fill("Acme")
    await fill_account(owner, "Olive Owner", "olive@acme.example")
    await owner.get_by_role("button", name="Create organisation").click()
    await owner.wait_for_url(base_url + "/org?notice=welcome")
    await check(owner, "org")

    # The owner invites a colleague by link; the link is shown once.
    await owner.get_by_role("button", name="Create invitation").click()
    link_box = owner.get_by_label("Invitation link")
    await expect(link_box).to_be_visible()
    await check(owner, "org-invited")
    invitation = urlparse(await link_box.input_value())

    # The colleague signs up through the link in a second browser.
    colleague_ctx, colleague = await phone(browser)
    await visit(colleague, f"{base_url}{invitation.path}?{invitation.query}", "signup")
    await expect(
        colleague.get_by_text("If you leave it empty, only this is unavailable.")
    ).to_have_count(4)
    await fill_account(colleague, "Cleo Colleague", "cleo@acme.example")
    await colleague.get_by_role("button", name="Create account").click()
    await colleague.wait_for_url(base_url + "/profile?notice=welcome")
    await check(colleague, "profile-welcome")

    # … signs out and in again, and edits the profile.
    await colleague.get_by_role("button", name="Sign out").click()
    await colleague.wait_for_url(base_url + "/signin?notice=signed-out")
    await sign_in(colleague, base_url, "cleo@acme.example", "/profile")
    await expect(colleague.get_by_text("can be seen by the other members of Acme")).to_be_visible()
    await colleague.get_by_label("Job title").fill("Head of Tea")
    await colleague.get_by_label("Phone").fill("+44 20 7946 0018")
    await colleague.get_by_role("button", name="Save details").click()
    await colleague.wait_for_url(base_url + "/profile?notice=saved")
    await colleague.set_input_files(
        "#f-avatar", files=[{"name": "me.png", "mimeType": "image/png", "buffer": tiny_png()}]
    )
    await colleague.get_by_role("button", name="Upload picture").click()
    await colleague.wait_for_url(base_url + "/profile?notice=avatar-saved")
    await colleague.reload()
    await check(colleague, "profile")
    await expect(colleague.get_by_label("Job title")).to_have_value("Head of Tea")
    await expect(colleague.get_by_label("Phone")).to_have_value("+44 20 7946 0018")
    picture = colleague.get_by_role("img", name="Your profile picture")
    await expect(picture).to_be_visible()
    assert await picture.evaluate("img => img.naturalWidth") == 48

    # A third browser signs in as the colleague; the first lists both sessions and revokes it.
    third_ctx, third = await phone(browser)
    await sign_in(third, base_url, "cleo@acme.example", "/sessions")
    await visit(colleague, base_url + "/sessions", "sessions")
    await expect(colleague.get_by_role("heading", name="2 active sessions")).to_be_visible()
    await expect(colleague.get_by_text("This session")).to_have_count(1)
    other = colleague.locator("tbody tr:not(.current)")
    await other.get_by_role("button", name="Sign out").click()
    await colleague.wait_for_url(base_url + "/sessions?notice=revoked")
    await expect(colleague.get_by_role("heading", name="1 active session")).to_be_visible()
    await check(colleague)

    # The revoked browser is signed out on its next navigation.
    await third.goto(base_url + "/profile")
    assert urlparse(third.url).path == "/signin"
    await check(third)

    for context in (owner_ctx, colleague_ctx, third_ctx):
        await context.close()
