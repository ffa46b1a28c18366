"""The browser reaches the server and the sign-in page fits a phone."""

from __future__ import annotations

from playwright.async_api import Browser

from tests.support.browser import horizontal_overflow


async def test_error_page_renders_in_chromium_at_phone_width(
    browser: Browser, base_url: str
) -> None:
    context = await browser.new_context(viewport={"width": 375, "height": 740})
    page = await context.new_page()
    response = await page.goto(base_url + "/no-such-page")
    assert response is not None and response.status == 404
    assert await page.get_by_role("heading", name="Not found").is_visible()
    assert await horizontal_overflow(page) == 0
    await context.close()
