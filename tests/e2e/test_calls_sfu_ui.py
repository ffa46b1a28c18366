"""Calls above the mesh limit in the browser, through a real Janus (P-CALL-1): each browser
publishes once and takes the others' feeds from the SFU.

Without Janus installed the test is skipped with the reason; with PARLOUR_REQUIRE_SERVICES=1
that skip is a failure (tests/support/janus.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from playwright.async_api import Browser, expect
from sqlalchemy import select

from parlour.container import Container
from parlour.core.clock import SystemClock
from parlour.features.calls.models import Quality
from parlour.settings import Settings
from tests.e2e.test_calls_ui import (
    ALL_TRACKS_ENDED,
    RING_MS,
    SHOTS,
    answer,
    call,
    call_id,
    group_of_three,
    until_connected,
    until_decoding,
)
from tests.support.browser import horizontal_overflow
from tests.support.janus import janus


@pytest.fixture
def clock() -> SystemClock:
    return SystemClock()


@pytest.fixture
def janus_url(tmp_path: Path) -> Iterator[str]:
    with janus(tmp_path / "janus") as url:
        yield url


@pytest.fixture
def settings(settings: Settings, janus_url: str) -> Settings:
    """A mesh of two at most: a call of three goes through the SFU."""
    return settings.model_copy(update={"call_mesh_limit": 2, "sfu_url": janus_url})


@pytest.mark.promise("P-CALL-1")
async def test_a_group_of_three_above_the_mesh_limit_runs_through_the_sfu_in_the_browser(
    browser: Browser, base_url: str, app: FastAPI, container: Container
) -> None:
    async with group_of_three(browser, base_url, app, container) as (people3, pages):
        a = people3[0]
        pa, pb, pc = pages
        await call(pa)
        await answer(pb)
        await answer(pc)
        for page in pages:
            await until_connected(page)
        for page in pages:
            await until_decoding(page, 2)  # one feed from each of the two others
            assert await page.evaluate("() => window.parlourCall.call.mode") == "sfu"
            await expect(page.locator("[data-call-view] [data-tile]")).to_have_count(3)
            await expect(page.get_by_role("button", name="Invite a guest by link")).to_be_hidden()
        await pa.screenshot(path=f"{SHOTS}/call-desktop-sfu.png")
        await pc.screenshot(path=f"{SHOTS}/call-phone-sfu.png")
        assert await horizontal_overflow(pc) == 0
        cid = await call_id(pa)

        # The camera goes off and on again on the one publishing connection; the others see
        # its frames stop and start.
        a_on_b = pb.locator(f'[data-tile="{a.id}"]')
        await pa.get_by_role("button", name="Turn camera off").click()
        await expect(a_on_b).not_to_have_class(re.compile("has-video"), timeout=RING_MS)
        await pa.get_by_role("button", name="Turn camera on").click()
        await expect(a_on_b).to_have_class(re.compile("has-video"), timeout=RING_MS)

        await pc.get_by_role("button", name="Hang up").click()
        await pc.wait_for_function(ALL_TRACKS_ENDED, timeout=5_000)
        for page in (pa, pb):
            await expect(page.locator("[data-call-view] [data-tile]")).to_have_count(2)
        await pa.get_by_role("button", name="Hang up").click()
        for page in (pa, pb):
            await page.wait_for_function(ALL_TRACKS_ENDED, timeout=10_000)
        await expect(pb.locator("[data-call-status]")).to_have_text("Call ended.")

    record = (await a.http.get(f"/api/v1/calls/{cid}")).json()
    assert record["mode"] == "sfu" and record["outcome"] == "completed"
    async with container.db.transaction() as uow:
        quality = list(await uow.session.scalars(select(Quality).where(Quality.call_id == cid)))
    assert len(quality) == 3, "each of the three reports once"
    assert all((q.frames_decoded or 0) > 0 and q.bitrate_kbps for q in quality)
