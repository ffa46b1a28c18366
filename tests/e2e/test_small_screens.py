"""What a new user saw at 390 px and at desktop width: the top menu, the message counter, the
organisation invitation's copy button. Screenshots go to test-shots/ (or PARLOUR_TEST_SHOTS)
for a person to see."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from playwright.async_api import Browser, Page, ViewportSize, expect

from parlour.container import Container
from parlour.features.chat.messages import MAX_CHARS
from tests.support.browser import SHOTS, horizontal_overflow
from tests.support.world import PASSWORD, Person, direct, instance_owner, invite, member

PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1280, "height": 800}


@asynccontextmanager
async def signed_in(
    browser: Browser, base_url: str, person: Person, viewport: ViewportSize, **options: object
) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport=viewport, base_url=base_url, **options)  # type: ignore[arg-type]
    try:
        answer = await context.request.post(
            "/api/v1/auth/signin", data={"email": person.email, "password": PASSWORD}
        )
        assert answer.ok, await answer.text()
        yield await context.new_page()
    finally:
        await context.close()


async def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"))


async def header_box(page: Page) -> dict[str, float]:
    box = await page.locator("header.topbar").bounding_box()
    assert box is not None
    return box


async def test_the_top_menu_fits_a_phone_and_sign_out_stays_put(
    app: FastAPI, container: Container, browser: Browser, base_url: str
) -> None:
    owner = await instance_owner(app, container)
    async with signed_in(browser, base_url, owner, PHONE) as page:
        for path in ("/profile", "/org", "/chat"):
            await page.goto(path)
            await shot(page, "menu-phone" + path.replace("/", "-"))
            signout = page.get_by_role("button", name="Sign out")
            await expect(signout).to_be_visible()
            box = await signout.bounding_box()
            assert box is not None and box["height"] < 40, (path, box)
            header = await header_box(page)
            assert header["height"] <= 64, (path, header)
            assert box["y"] + box["height"] <= header["y"] + header["height"]
            assert await horizontal_overflow(page) == 0, path
        menu = page.get_by_role("button", name="Menu")
        nav = page.get_by_role("navigation", name="Main")
        await expect(nav).to_be_hidden()
        await menu.focus()
        await page.keyboard.press("Enter")
        await expect(menu).to_have_attribute("aria-expanded", "true")
        await expect(nav.get_by_role("link", name="Instance")).to_be_visible()
        await shot(page, "menu-phone-open")
        await page.keyboard.press("Tab")
        await page.keyboard.press("Escape")
        await expect(nav).to_be_hidden()
        await expect(menu).to_be_focused()

    async with signed_in(browser, base_url, owner, DESKTOP) as page:
        await page.goto("/org")
        await shot(page, "menu-desktop-org")
        await expect(page.get_by_role("button", name="Menu")).to_be_hidden()
        for name in ("Chat", "Profile", "Sessions", "Privacy", "Organisation", "Instance"):
            await expect(page.get_by_role("link", name=name, exact=True)).to_be_visible()
        assert (await header_box(page))["height"] <= 64


async def test_without_javascript_the_links_scroll_sideways_on_one_row(
    app: FastAPI, container: Container, browser: Browser, base_url: str
) -> None:
    owner = await instance_owner(app, container)
    async with signed_in(browser, base_url, owner, PHONE, java_script_enabled=False) as page:
        await page.goto("/profile")
        await shot(page, "menu-phone-no-script")
        await expect(page.get_by_role("button", name="Menu")).to_be_hidden()
        chat, instance = (
            page.get_by_role("link", name=n, exact=True) for n in ("Chat", "Instance")
        )
        first, last = await chat.bounding_box(), await instance.bounding_box()
        assert first and last and first["y"] == last["y"]  # one row, not wrapped
        signout = await page.get_by_role("button", name="Sign out").bounding_box()
        assert signout and signout["y"] < first["y"]  # Sign out stays on the first line
        assert await horizontal_overflow(page) == 0


async def test_the_message_box_counts_down_to_the_limit_and_stops_send_over_it(
    app: FastAPI, container: Container, browser: Browser, base_url: str
) -> None:
    owner = await instance_owner(app, container)
    pat = await member(app, owner)
    conversation = await direct(owner, pat)
    for viewport, name in ((PHONE, "phone"), (DESKTOP, "desktop")):
        async with signed_in(browser, base_url, owner, viewport) as page:
            await page.goto(f"/chat/{conversation}")
            await expect(page.locator("[data-conn]")).to_have_text("Connected")
            box = page.get_by_label("Message", exact=True)
            count = page.locator("[data-char-count]")
            send = page.get_by_role("button", name="Send")
            await expect(count).to_be_hidden()
            await box.fill("Hello")
            await expect(count).to_have_text(f"{MAX_CHARS - 5:,} characters left")
            await expect(count).to_have_attribute("data-state", "ok")
            await box.fill("é" * (MAX_CHARS - 400))
            await expect(count).to_have_text("400 characters left")
            await expect(count).to_have_attribute("data-state", "warn")
            await expect(send).to_be_enabled()
            await box.fill("😀" * (MAX_CHARS + 1))  # one code point each, as the server counts
            await expect(count).to_have_text(
                "1 character too many: shorten the message to send it."
            )
            await expect(send).to_be_disabled()
            await shot(page, f"counter-{name}-over")
            await box.press("Enter")
            await box.press("Backspace")
            await expect(count).to_have_text("0 characters left")
            await expect(send).to_be_enabled()
    stored = (await owner.http.get(f"/api/v1/conversations/{conversation}/messages")).json()
    assert stored == []  # Enter over the limit sent nothing


async def test_the_organisation_invitation_link_has_a_copy_button_that_copies(
    app: FastAPI, container: Container, browser: Browser, base_url: str
) -> None:
    owner = await instance_owner(app, container)
    for viewport, name in ((PHONE, "phone"), (DESKTOP, "desktop")):
        async with signed_in(
            browser, base_url, owner, viewport, permissions=["clipboard-read", "clipboard-write"]
        ) as page:
            await page.goto("/org")
            await page.get_by_role("button", name="Create invitation").click()
            link = page.get_by_label("Invitation link")
            await expect(link).to_have_value(re.compile(r"/signup\?invitation="))
            await page.get_by_role("button", name="Copy link").click()
            await expect(page.get_by_role("status").filter(has_text="Link copied.")).to_be_visible()
            copied = await page.evaluate("() => navigator.clipboard.readText()")
            assert copied == await link.input_value()
            assert await horizontal_overflow(page) == 0
            await shot(page, f"org-invite-copy-{name}")

            await page.goto("/admin")  # the instance page's owner invitation: the same button
            await page.get_by_label("Name").fill(f"Globex {name}")
            await page.get_by_role("button", name="Create organisation").click()
            owner_link = page.get_by_label("Owner's invitation link")
            await page.get_by_role("button", name="Copy link").click()
            await expect(page.get_by_role("status").filter(has_text="Link copied.")).to_be_visible()
            copied = await page.evaluate("() => navigator.clipboard.readText()")
            assert copied == await owner_link.input_value()
            await shot(page, f"admin-invite-copy-{name}")


async def test_a_new_instance_and_a_sign_up_with_many_mistakes_read_well(
    app: FastAPI, container: Container, browser: Browser, base_url: str
) -> None:
    for viewport, name in ((PHONE, "phone"), (DESKTOP, "desktop")):
        context = await browser.new_context(viewport=viewport, base_url=base_url)
        page = await context.new_page()
        await page.goto("/")
        await expect(page.get_by_role("heading", name="Setup is not finished yet")).to_be_visible()
        assert (await header_box(page))["height"] <= 64  # brand and "Sign in" on one line
        assert await horizontal_overflow(page) == 0
        await shot(page, f"setup-pending-{name}")
        await context.close()

    owner = await instance_owner(app, container)
    link = await invite(owner)
    for viewport, name in ((PHONE, "phone"), (DESKTOP, "desktop")):
        context = await browser.new_context(viewport=viewport, base_url=base_url)
        page = await context.new_page()
        await page.goto(link.replace("http://127.0.0.1:8080", base_url))
        await page.get_by_label("Your name").fill("Ada")
        await page.get_by_label("Email", exact=True).fill("ada@example")
        await page.get_by_label("Password", exact=True).fill("short")
        await page.get_by_label("Date of birth").fill("2020-01-01")
        await page.get_by_label(re.compile("I have read and accept")).check()
        await page.get_by_role("button", name="Create account").click()
        summary = page.get_by_role("alert")
        await expect(summary).to_contain_text("Use at least 10 characters.")
        for text in ("Enter an email address", "You must be at least 16."):
            await expect(summary).to_contain_text(text)
        for field in ("email", "password", "birth_date"):
            await expect(page.locator(f"#f-{field}-error")).to_be_visible()
        assert await horizontal_overflow(page) == 0
        await shot(page, f"signup-errors-{name}")
        await context.close()
