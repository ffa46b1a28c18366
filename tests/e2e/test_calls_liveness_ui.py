"""Nobody stays stuck in a call: one whose other browser dies (the tab crashes, no hang-up is
ever sent) ends for the one left within the leg timeout, and someone still in a call elsewhere
is offered a way to leave it."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time

from fastapi import FastAPI
from playwright.async_api import Browser, Error, Page, expect

from parlour.app import create_app
from parlour.container import Container
from parlour.core.clock import SystemClock
from parlour.settings import Settings
from tests.e2e.test_calls_ui import (
    ALL_TRACKS_ENDED,
    RING_MS,
    answer,
    call,
    call_id,
    open_chat,
    people,
    records,
    until_connected,
    window,
)
from tests.support.live import serving
from tests.support.world import direct

LEG_TIMEOUT = 4  # seconds: short, so the test shows the server acting on its own


async def crash(page: Page) -> None:
    """Kills the page's renderer, as when a tab is killed: no pagehide, no goodbye."""
    session = await page.context.new_cdp_session(page)
    with contextlib.suppress(Error, TimeoutError):
        await asyncio.wait_for(session.send("Page.crash"), 5)


async def test_a_call_whose_other_browser_dies_ends_within_the_leg_timeout(
    browser: Browser, settings: Settings
) -> None:
    short = settings.model_copy(update={"call_leg_timeout_seconds": LEG_TIMEOUT})
    app = create_app(short, SystemClock())  # real time: the timeout runs by itself
    async with app.router.lifespan_context(app), serving(app) as address:
        base_url = f"http://{address}"
        container: Container = app.state.container
        a, b = await people(app, container, 2)
        ab = await direct(a, b)
        async with window(browser, base_url, a) as pa, window(browser, base_url, b) as pb:
            await open_chat(pa, f"/chat/{ab}")
            await open_chat(pb, f"/chat/{ab}")
            await call(pa)
            await answer(pb)
            await until_connected(pa)
            await until_connected(pb)
            cid = await call_id(pa)
            crashed = time.monotonic()
            await crash(pb)
            ended = pa.locator("[data-call-status]")
            await expect(ended).to_have_text("Call ended.", timeout=(LEG_TIMEOUT + 15) * 1000)
            took = time.monotonic() - crashed
            await pa.wait_for_function(ALL_TRACKS_ENDED, timeout=5_000)
        print(f"\nthe call ended {took:.1f} s after the other tab crashed")  # shown with -s
        assert took < LEG_TIMEOUT + 6, "about the timeout, well before the page's own watch"
        record = (await a.http.get(f"/api/v1/calls/{cid}")).json()
        assert record["state"] == "ended" and record["outcome"] == "completed"
        parts = await records(container, cid)
        assert parts[b.id].disconnect == "network" and parts[a.id].disconnect == "ended"


async def test_someone_still_in_a_call_elsewhere_can_leave_it_from_a_new_page(
    browser: Browser, base_url: str, app: FastAPI, container: Container
) -> None:
    """The refusal to start a second call comes with a way out: leaving the other call."""
    a, b = await people(app, container, 2)
    ab = await direct(a, b)
    async with (
        window(browser, base_url, a) as first,
        window(browser, base_url, b) as pb,
        window(browser, base_url, a) as second,
    ):
        refused: list[str] = []  # what the server refused this page, named if the test fails
        second.on(
            "response",
            lambda r: (
                refused.append(f"{r.request.method} {r.url} {r.status}")
                if r.status >= 400 and "/api/" in r.url
                else None
            ),
        )
        await open_chat(first, f"/chat/{ab}")
        await open_chat(pb, f"/chat/{ab}")
        await call(first, "audio")
        await answer(pb, "Accept with sound only")
        await until_connected(pb)
        await open_chat(second, f"/chat/{ab}")
        await call(second, "audio")
        await expect(second.get_by_role("alert")).to_contain_text("already in a call")
        leave = second.get_by_role("button", name="Leave that call")
        await expect(leave).to_be_focused()
        await leave.click()
        await expect(second.locator("[data-call-view]")).to_be_hidden()
        for page in (first, pb):
            await expect(page.locator("[data-call-status]")).to_have_text("Call ended.")
        await call(second, "audio")
        await expect(pb.get_by_role("dialog", name=re.compile("is calling"))).to_be_visible(
            timeout=RING_MS
        )
        # no_wait_after: nothing here navigates, and the checks below say so if it ever does
        await second.get_by_role("button", name="Hang up").click(no_wait_after=True)
        try:
            await expect(pb.get_by_role("dialog", name=re.compile("is calling"))).to_be_hidden(
                timeout=RING_MS
            )
        finally:
            print("refused to the second page:", refused)  # shown with the failure
        assert second.url.endswith(f"/chat/{ab}"), (second.url, refused)
        # Both calls ended at the same instant (the test's clock stands still): their entries
        # in the conversation once moved each after the other for ever, and the page hung.
        for page in (pb, second):
            await expect(page.locator("[data-call-entry]")).to_have_count(2, timeout=5_000)
