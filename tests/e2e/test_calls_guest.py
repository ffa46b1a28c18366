"""Guests join a call by link in the browser (P-ACC-7): the name page, the lobby, the call
itself with real media, hanging up, and the link dying with the call."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlparse

import pytest
from fastapi import FastAPI
from playwright.async_api import Browser, Page, expect
from sqlalchemy import select

from parlour.container import Container
from parlour.core.clock import SystemClock
from parlour.features.calls.models import Participant, Quality
from tests.conftest import make_client
from tests.e2e.test_calls_ui import (
    ALL_TRACKS_ENDED,
    DESKTOP,
    SHOTS,
    TRACK_MEDIA,
    answer,
    call,
    call_id,
    open_chat,
    people,
    until_connected,
    until_decoding,
    window,
)
from tests.support.browser import horizontal_overflow
from tests.support.world import direct

GUEST_NAME = "Gwen Guest"
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def clock() -> SystemClock:
    return SystemClock()


@asynccontextmanager
async def guest_window(
    browser: Browser, base_url: str, viewport: dict[str, int] = PHONE
) -> AsyncIterator[Page]:
    """A browser context of its own with no account, every media track recorded."""
    context = await browser.new_context(viewport=viewport, base_url=base_url)
    try:
        page = await context.new_page()
        await page.add_init_script(TRACK_MEDIA)
        yield page
    finally:
        await context.close()


async def both_widths(page: Page, what: str) -> None:
    """Screenshots at desktop width and at the phone's, which must not scroll sideways."""
    await page.set_viewport_size(DESKTOP)
    await page.screenshot(path=f"{SHOTS}/call-guest-desktop-{what}.png")
    await page.set_viewport_size(PHONE)
    await page.screenshot(path=f"{SHOTS}/call-guest-phone-{what}.png", full_page=True)
    assert await horizontal_overflow(page) == 0


async def make_link(page: Page) -> str:
    """The member's Invite control: a link in a dialog, copied to the clipboard."""
    # Chromium's grant denies whatever is not named: the camera and microphone stay granted.
    permissions = ["clipboard-read", "clipboard-write", "camera", "microphone"]
    await page.context.grant_permissions(permissions)
    await page.get_by_role("button", name="Invite a guest by link").click()
    dialog = page.get_by_role("dialog", name="Invite by link")
    field = dialog.get_by_label("Guest link")
    await expect(field).to_have_value(re.compile(r"/call/guest/[\w-]{20,}$"))
    url = await field.input_value()
    await dialog.get_by_role("button", name="Copy link").click()
    await expect(dialog.get_by_role("status")).to_have_text("Link copied.")
    assert await page.evaluate("() => navigator.clipboard.readText()") == url
    await page.screenshot(path=f"{SHOTS}/call-desktop-invite.png")
    await dialog.get_by_role("button", name="Done").click()
    await expect(dialog).to_be_hidden()
    return urlparse(url).path


@pytest.mark.promise("P-ACC-7")
async def test_a_guest_joins_by_link_takes_part_and_the_link_ends_with_the_call(
    browser: Browser, base_url: str, app: FastAPI, container: Container
) -> None:
    a, b = await people(app, container, 2)
    ab = await direct(a, b)
    async with (
        window(browser, base_url, a) as pa,
        window(browser, base_url, b) as pb,
        guest_window(browser, base_url) as pg,
    ):
        await open_chat(pa, f"/chat/{ab}")
        await open_chat(pb, f"/chat/{ab}")
        await call(pa)
        await answer(pb)
        await until_decoding(pa, 1)
        path = await make_link(pa)

        await pg.goto(path)
        name = pg.get_by_label("Your name")
        await expect(name).to_be_visible()
        await expect(pg.get_by_text("deleted 400 days after the call")).to_be_visible()
        await both_widths(pg, "name")
        await pg.get_by_role("button", name="Continue").click()  # no name yet
        await expect(pg.get_by_role("alert")).to_contain_text("There is a problem")
        await expect(name).to_have_attribute("aria-invalid", "true")
        await name.fill(GUEST_NAME)
        await pg.get_by_role("button", name="Continue").click()

        await expect(pg.get_by_role("heading", name="Ready to join?")).to_be_visible()
        await expect(pg.locator("[data-guest-who]")).to_contain_text("A video call with")
        await pg.get_by_role("button", name="Preview camera").click()
        preview = pg.locator("[data-guest-preview]")
        await expect(preview).to_have_class(re.compile("has-video"))
        await both_widths(pg, "lobby")
        await pg.get_by_role("button", name="Join the call").click()

        await until_connected(pg)
        await until_decoding(pg, 2)
        await until_decoding(pa, 2)
        await until_decoding(pb, 2)
        await expect(pa.get_by_role("figure", name=GUEST_NAME)).to_be_visible()
        await expect(pg.locator("[data-call-view] .tile.self .tile-name")).to_have_text(
            f"{GUEST_NAME} (you)"
        )
        await pg.screenshot(path=f"{SHOTS}/call-guest-phone-in-call.png")
        await pa.screenshot(path=f"{SHOTS}/call-desktop-with-guest.png")
        assert await horizontal_overflow(pg) == 0
        assert await pg.get_by_role("button", name="Invite a guest by link").count() == 0 or (
            not await pg.get_by_role("button", name="Invite a guest by link").is_visible()
        )

        await pg.get_by_role("button", name="Mute microphone").click()
        await expect(
            pa.get_by_role("figure", name=GUEST_NAME).locator(".muted-badge")
        ).to_be_visible()

        cid = await call_id(pa)
        await pg.get_by_role("button", name="Hang up").click()
        await pg.wait_for_function(ALL_TRACKS_ENDED, timeout=5_000)
        obtained = await pg.evaluate("() => window.__tracks.map((t) => t.kind).sort()")
        assert obtained == ["audio", "video"], "the preview's camera went on into the call"
        await expect(pg.get_by_role("heading", name="The call is over for you")).to_be_visible()
        await expect(pa.locator("[data-tile]")).to_have_count(2)  # the guest's tile went
        await pg.screenshot(path=f"{SHOTS}/call-guest-phone-left.png")

        await pa.get_by_role("button", name="Hang up").click()
        for page in (pa, pb):
            await page.wait_for_function(ALL_TRACKS_ENDED, timeout=10_000)
        response = await pg.goto(path)
        assert response is not None and response.status == 410
        await expect(
            pg.get_by_role("heading", name="This call link no longer works")
        ).to_be_visible()
        await pg.screenshot(path=f"{SHOTS}/call-guest-phone-ended.png")

    record = (await a.http.get(f"/api/v1/calls/{cid}")).json()
    assert record["outcome"] == "completed"
    guests = [p for p in record["participants"] if p["role"] == "guest"]
    assert [(g["display_name"], g["state"]) for g in guests] == [(GUEST_NAME, "left")]
    async with container.db.transaction() as uow:
        rows = list(
            await uow.session.scalars(select(Participant).where(Participant.call_id == cid))
        )
        quality = list(await uow.session.scalars(select(Quality).where(Quality.call_id == cid)))
    [guest] = [p for p in rows if p.role == "guest"]
    assert guest.user_id is None and guest.browser and "Chrom" in guest.browser
    assert guest.disconnect == "hangup" and guest.left_at is not None
    assert len(quality) == 2, "the members report; nothing is kept of a guest's (P-ANA-2)"
    assert all((q.frames_decoded or 0) > 0 for q in quality)


@pytest.mark.promise("P-ACC-7")
async def test_a_link_that_never_worked_says_so_at_desktop_width(
    browser: Browser, base_url: str
) -> None:
    async with guest_window(browser, base_url, DESKTOP) as page:
        response = await page.goto("/call/guest/not-a-real-link-at-all")
        assert response is not None and response.status == 410
        await expect(
            page.get_by_role("heading", name="This call link no longer works")
        ).to_be_visible()
        assert await page.evaluate("() => window.__tracks.length") == 0


@pytest.mark.promise("P-ACC-7")
async def test_the_name_form_needs_its_csrf_token_and_a_name_and_the_cookie_opens_the_lobby(
    app: FastAPI, container: Container
) -> None:
    a, b = await people(app, container, 2)
    ab = await direct(a, b)
    started = await a.http.post(
        "/api/v1/calls", json={"conversation_id": ab, "media": "audio", "device_id": "a" * 32}
    )
    assert started.status_code == 201, started.text
    cid = started.json()["id"]
    link = await a.http.post(f"/api/v1/calls/{cid}/guest-links")
    assert link.status_code == 201, link.text
    path = urlparse(link.json()["url"]).path
    async with make_client(app) as visitor:
        form = await visitor.get(path)
        assert form.status_code == 200 and 'for="f-display_name"' in form.text
        token = visitor.cookies.get("parlour_csrf")
        assert token and "parlour_guest" not in visitor.cookies

        forged = await visitor.post(path, data={"display_name": "Mallory"})
        assert forged.status_code == 403 and "parlour_guest" not in visitor.cookies
        empty = await visitor.post(path, data={"csrf_token": token, "display_name": "  "})
        assert empty.status_code == 422 and 'aria-invalid="true"' in empty.text

        joined = await visitor.post(path, data={"csrf_token": token, "display_name": "Vi"})
        assert joined.status_code == 303 and joined.headers["location"] == path
        assert visitor.cookies.get("parlour_guest")
        lobby = await visitor.get(path)
        assert lobby.status_code == 200 and "data-guest-csrf=" in lobby.text
        assert 'for="f-display_name"' not in lobby.text

        async with make_client(app) as stranger:  # the same link, without the cookie
            other = await stranger.get(path)
            assert other.status_code == 200 and "data-guest-csrf=" not in other.text

        assert (await a.http.post(f"/api/v1/calls/{cid}/hangup", json={})).status_code == 200
        gone = await visitor.get(path)
        assert gone.status_code == 410 and "This call link no longer works" in gone.text
        late = await visitor.post(path, data={"csrf_token": token, "display_name": "Vi"})
        assert late.status_code == 410
