"""The cookie banner in a real browser: equal buttons, Reject sets nothing optional, it persists."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, Page

from parlour.features.consent import cookies
from parlour.features.consent.cookies import Category
from tests.support.browser import horizontal_overflow

STYLE_KEYS = (
    "font-size",
    "font-weight",
    "font-family",
    "color",
    "background-color",
    "border-top-width",
    "border-top-style",
    "border-top-color",
    "border-radius",
    "padding-top",
    "padding-left",
    "text-decoration-line",
)
NECESSARY = {c.name for c in cookies.registry(30, 180) if c.category is Category.STRICTLY_NECESSARY}


async def computed(page: Page, selector: str) -> dict[str, str]:
    style: dict[str, str] = await page.eval_on_selector(
        selector,
        "(el, keys) => { const s = getComputedStyle(el);"
        " return Object.fromEntries(keys.map(k => [k, s.getPropertyValue(k)])); }",
        list(STYLE_KEYS),
    )
    return style


@pytest.mark.promise("P-CNS-3")
async def test_reject_is_as_prominent_as_accept_and_leaves_only_necessary_cookies(
    browser: Browser, base_url: str
) -> None:
    context = await browser.new_context(viewport={"width": 375, "height": 740})
    page = await context.new_page()
    await page.goto(base_url + "/signin")
    banner = page.locator("#consent-banner")
    assert await banner.is_visible()
    reject = page.get_by_role("button", name="Reject all")
    accept = page.get_by_role("button", name="Accept all")
    reject_box, accept_box = await reject.bounding_box(), await accept.bounding_box()
    assert reject_box and accept_box
    assert round(reject_box["width"]) == round(accept_box["width"])
    assert round(reject_box["height"]) == round(accept_box["height"])
    assert await computed(page, "button[value=reject_all]") == await computed(
        page, "button[value=accept_all]"
    )
    assert await horizontal_overflow(page) == 0
    # Not a wall: the sign-in form behind the banner can be used while it is open.
    await page.get_by_label("Email", exact=True).fill("someone@example.org")
    assert await page.get_by_label("Email", exact=True).input_value() == "someone@example.org"
    assert {c["name"] for c in await context.cookies()} <= NECESSARY

    await reject.click()
    await banner.wait_for(state="detached")
    names = {c["name"] for c in await context.cookies()}
    assert "parlour_consent" in names and names <= NECESSARY
    await page.reload()
    assert await page.locator("#consent-banner").count() == 0
    await page.goto(base_url + "/privacy/cookies")
    assert await page.locator("#consent-banner").count() == 0
    assert await page.get_by_text("strictly necessary only").is_visible()
    assert await horizontal_overflow(page) == 0
    await context.close()


@pytest.mark.promise("P-CNS-3")
async def test_the_banner_works_with_javascript_off(browser: Browser, base_url: str) -> None:
    context = await browser.new_context(java_script_enabled=False)
    page = await context.new_page()
    await page.goto(base_url + "/privacy/cookies")
    await page.locator("#consent-banner").get_by_text("Choose").click()
    await page.locator("#consent-banner").get_by_label("Remembering your preferences").check()
    await page.locator("#consent-banner").get_by_role("button", name="Save my choice").click()
    await page.wait_for_url(base_url + "/privacy/cookies")
    assert await page.locator("#consent-banner").count() == 0
    assert await page.get_by_text("You chose on this browser: Remembering").is_visible()
    await context.close()
