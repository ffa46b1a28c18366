"""Calls in the browser with real media: Chromium's fake camera and microphone, peer
connections on loopback, and the call record the server keeps.

The app runs on the real clock here, so durations and ring timeouts are real time.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import pytest
from fastapi import FastAPI
from playwright.async_api import Browser, Page, expect
from sqlalchemy import select

from parlour.container import Container
from parlour.core.clock import SystemClock
from parlour.features.calls.models import Participant, Quality
from parlour.settings import Settings
from tests.support.browser import SHOTS, horizontal_overflow
from tests.support.world import PASSWORD, Person, direct, instance_owner, member

DESKTOP = {"width": 1200, "height": 800}
PHONE = {"width": 375, "height": 740}
MEDIA_MS = 60_000  # media set-up on a loaded two-core machine takes a while
RING_MS = 30_000

# Every track the page obtains, kept apart from the app so the test can check the app
# stopped all of them (P-CALL-1).
TRACK_MEDIA = """
window.__tracks = [];
window.__screens = [];
for (const name of ["getUserMedia", "getDisplayMedia"]) {
  const devices = navigator.mediaDevices;
  const original = devices && devices[name] && devices[name].bind(devices);
  if (!original) continue;
  devices[name] = async (...args) => {
    const stream = await original(...args);
    window.__tracks.push(...stream.getTracks());
    if (name === "getDisplayMedia") window.__screens.push(...stream.getTracks());
    return stream;
  };
}
"""

ALL_TRACKS_ENDED = """
() => window.__tracks.length > 0 && window.__tracks.every((t) => t.readyState === "ended")
"""

# True when every peer connection of the call has decoded video frames from its far end.
FRAMES_FLOW = """
async (expected) => {
  const peers = window.parlourCall ? window.parlourCall.peers : [];
  if (peers.length !== expected) return false;
  for (const pc of peers) {
    const report = await pc.getStats();
    let frames = 0;
    report.forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "video") frames += s.framesDecoded || 0;
    });
    if (frames <= 0) return false;
  }
  return true;
}
"""

# Each receiving connection: key, state, video frames decoded, packets in, packets out.
CONNECTIONS = """
async () => {
  const out = [];
  for (const [key, r] of window.parlourCall.call.remotes) {
    let frames = 0, received = 0, sent = 0;
    (await r.pc.getStats()).forEach((s) => {
      if (s.type === "inbound-rtp") received += s.packetsReceived || 0;
      if (s.type === "inbound-rtp" && s.kind === "video") frames += s.framesDecoded || 0;
      if (s.type === "outbound-rtp") sent += s.packetsSent || 0;
    });
    out.push([key, r.pc.connectionState, frames, received, sent]);
  }
  return JSON.stringify(out);
}
"""


@pytest.fixture
def clock() -> SystemClock:
    return SystemClock()


@pytest.fixture
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    """The ring time can be shortened per test with indirect parametrisation."""
    ring = getattr(request, "param", None)
    return settings if ring is None else settings.model_copy(update={"call_ring_seconds": ring})


@asynccontextmanager
async def window(
    browser: Browser, base_url: str, person: Person, viewport: dict[str, int] = DESKTOP
) -> AsyncIterator[Page]:
    """A browser context of its own, signed in, with every media track it obtains recorded."""
    context = await browser.new_context(viewport=viewport, base_url=base_url)
    try:
        answer = await context.request.post(
            "/api/v1/auth/signin", data={"email": person.email, "password": PASSWORD}
        )
        assert answer.ok, await answer.text()
        page = await context.new_page()
        await page.add_init_script(TRACK_MEDIA)
        yield page
    finally:
        await context.close()


async def open_chat(page: Page, path: str) -> None:
    await page.goto(path)
    await expect(page.locator("[data-conn]")).to_have_text("Connected", timeout=RING_MS)


async def call(page: Page, media: str = "video") -> None:
    label = "Start a video call" if media == "video" else "Start a voice call"
    await page.get_by_role("button", name=label).click()


def ring_dialog(page: Page) -> Any:
    return page.get_by_role("dialog", name=re.compile("is calling"))


async def answer(page: Page, how: str = "Accept with video") -> None:
    await expect(ring_dialog(page)).to_be_visible(timeout=RING_MS)
    await page.get_by_role("button", name=how).click()


async def until_connected(page: Page) -> None:
    await expect(page.locator("[data-call-status]")).to_have_text("Connected", timeout=MEDIA_MS)


async def until_decoding(page: Page, peers: int) -> None:
    """Waits until each of `peers` receiving connections has decoded video frames. It polls
    with evaluate: page.wait_for_function takes the promise of an async predicate for a
    truthy answer and returns at once."""
    deadline = time.monotonic() + MEDIA_MS / 1000
    while not await page.evaluate(FRAMES_FLOW, peers):
        if time.monotonic() > deadline:
            found = await page.evaluate(CONNECTIONS)
            raise AssertionError(f"no video decoded on {peers} connections: {found}")
        await asyncio.sleep(0.25)


async def call_id(page: Page) -> str:
    value: str = await page.evaluate("() => window.parlourCall.call.id")
    return value


async def records(container: Container, call: str) -> dict[str | None, Participant]:
    async with container.db.transaction() as uow:
        rows = await uow.session.scalars(select(Participant).where(Participant.call_id == call))
        return {p.user_id: p for p in rows}


async def people(app: FastAPI, container: Container, count: int) -> list[Person]:
    a = await instance_owner(app, container)
    return [a, *[await member(app, a) for _ in range(count - 1)]]


@asynccontextmanager
async def group_of_three(
    browser: Browser, base_url: str, app: FastAPI, container: Container
) -> AsyncIterator[tuple[list[Person], list[Page]]]:
    """Three members in a group, each with the group open: two at desktop width, one at phone."""
    a, b, c = await people(app, container, 3)
    group = await a.http.post(
        "/api/v1/conversations",
        json={"kind": "group", "name": "Three", "member_ids": [b.id, c.id]},
    )
    assert group.status_code == 201, group.text
    gid = group.json()["id"]
    async with AsyncExitStack() as stack:
        pages = [
            await stack.enter_async_context(window(browser, base_url, p, v))
            for p, v in ((a, DESKTOP), (b, DESKTOP), (c, PHONE))
        ]
        for page in pages:
            await open_chat(page, f"/chat/{gid}")
        yield [a, b, c], pages


@pytest.mark.promise("P-CALL-1")
@pytest.mark.promise("P-CALL-2")
@pytest.mark.promise("P-ANA-2")
async def test_a_video_call_between_two_browsers_flows_is_recorded_and_releases_the_camera(
    browser: Browser, base_url: str, app: FastAPI, container: Container
) -> None:
    a, b = await people(app, container, 2)
    ab = await direct(a, b)
    async with window(browser, base_url, a) as pa, window(browser, base_url, b, PHONE) as pb:
        await open_chat(pa, f"/chat/{ab}")
        await open_chat(pb, "/chat")
        await pa.screenshot(path=f"{SHOTS}/call-desktop-conversation.png")
        started = time.monotonic()
        await call(pa)
        await answer(pb)
        await until_connected(pa)
        await until_connected(pb)
        connected = time.monotonic()
        await until_decoding(pa, 1)
        await until_decoding(pb, 1)
        flowing = time.monotonic()
        print(  # the measured set-up times, shown with -s
            f"\ncall set-up: connected after {connected - started:.1f} s, "
            f"video decoded both ways after {flowing - started:.1f} s"
        )
        cid = await call_id(pa)
        await pa.wait_for_function(
            "() => performance.now() - window.parlourCall.call.connectedAt > 3000"
        )
        await pa.screenshot(path=f"{SHOTS}/call-desktop-in-call.png")
        await pb.screenshot(path=f"{SHOTS}/call-phone-in-call.png")
        assert await horizontal_overflow(pb) == 0

        await pa.get_by_role("button", name="Mute microphone").click()
        await expect(pb.locator("[data-tile] .muted-badge").last).to_be_visible()
        await pa.get_by_role("button", name="Unmute microphone").click()
        await expect(pb.locator("[data-tile] .muted-badge").last).to_be_hidden()

        await pa.get_by_role("button", name="Hang up").click()
        await pa.wait_for_function(ALL_TRACKS_ENDED, timeout=5_000)
        ended = time.monotonic()
        await pb.wait_for_function(ALL_TRACKS_ENDED, timeout=10_000)
        await expect(pa.locator("[data-call-view]")).to_be_hidden()
        await expect(pb.locator("[data-call-status]")).to_have_text("Call ended.")
        await pb.screenshot(path=f"{SHOTS}/call-phone-ended.png")
        obtained = await pa.evaluate("() => window.__tracks.map((t) => t.kind).sort()")
        assert obtained == ["audio", "video"], "the camera and the microphone, both stopped"
        await expect(pa.locator(f'[data-call-entry="{cid}"]')).to_contain_text("Video call")

    record = (await a.http.get(f"/api/v1/calls/{cid}")).json()
    assert record["state"] == "ended" and record["outcome"] == "completed"
    measured = ended - connected
    assert abs(record["duration_seconds"] - measured) < 4, (record, measured)
    parts = await records(container, cid)
    assert set(parts) == {a.id, b.id}
    for person in (a, b):
        part = parts[person.id]
        assert part.browser and "Chrom" in part.browser, part.browser
        assert part.os and part.language and part.device == "desktop"
        assert part.endpoint_type == "web" and (part.endpoint_version or "").startswith("web ")
        assert part.ip_address == "127.0.0.1"
        assert part.joined_at is not None and part.left_at is not None
    assert parts[a.id].disconnect == "hangup" and parts[b.id].disconnect == "ended"

    async with container.db.transaction() as uow:
        quality = list(await uow.session.scalars(select(Quality).where(Quality.call_id == cid)))
    assert len(quality) == 2, "each side reports once"
    for row in quality:
        assert (row.frames_decoded or 0) > 0 and row.bitrate_kbps
        assert a.id not in row.pseudonym and b.id not in row.pseudonym
        assert all(
            person.id not in str(getattr(row, column.key))
            for column in Quality.__table__.columns
            for person in (a, b)
        )


async def test_a_declined_call_ends_declined_and_the_caller_is_told(
    browser: Browser, base_url: str, app: FastAPI, container: Container
) -> None:
    a, b = await people(app, container, 2)
    ab = await direct(a, b)
    b_name = (await b.http.get("/api/v1/me")).json()["name"]
    async with window(browser, base_url, a) as pa, window(browser, base_url, b, PHONE) as pb:
        await open_chat(pa, f"/chat/{ab}")
        await call(pa, "audio")
        await expect(pa.locator("[data-call-status]")).to_have_text("Calling…")
        await open_chat(pb, f"/chat/{ab}")  # opened after the call started: it rings all the same
        await expect(ring_dialog(pb)).to_be_visible(timeout=RING_MS)
        await expect(pb.get_by_role("button", name="Accept with sound only")).to_be_focused()
        await pb.screenshot(path=f"{SHOTS}/call-phone-ringing.png")
        assert await horizontal_overflow(pb) == 0
        await pb.keyboard.press("Escape")  # Escape declines
        await expect(ring_dialog(pb)).to_be_hidden()
        status = pa.locator("[data-call-status]")
        await expect(status).to_have_text(f"{b_name} declined the call.", timeout=RING_MS)
        await pa.wait_for_function(ALL_TRACKS_ENDED, timeout=5_000)
        cid = await call_id(pa)
        await pa.screenshot(path=f"{SHOTS}/call-desktop-declined.png")
        for page in (pa, pb):
            await expect(page.locator(f'[data-call-entry="{cid}"]')).to_have_attribute(
                "data-outcome", "declined"
            )
    for person in (a, b):
        record = (await person.http.get(f"/api/v1/calls/{cid}")).json()
        assert record["state"] == "ended" and record["outcome"] == "declined"


@pytest.mark.parametrize("settings", [5], indirect=True)
async def test_an_unanswered_call_is_missed_and_shows_in_the_conversation(
    browser: Browser, base_url: str, app: FastAPI, container: Container
) -> None:
    a, b = await people(app, container, 2)
    ab = await direct(a, b)
    async with window(browser, base_url, a) as pa, window(browser, base_url, b) as pb:
        await open_chat(pa, f"/chat/{ab}")
        await open_chat(pb, f"/chat/{ab}")
        await call(pa)
        await expect(ring_dialog(pb)).to_be_visible(timeout=RING_MS)
        await expect(ring_dialog(pb)).to_be_hidden(timeout=RING_MS)  # rang out after 5 s
        missed = pb.locator("[data-call-entry]")
        await expect(missed).to_contain_text("Missed video call from")
        await expect(pa.locator("[data-call-status]")).to_contain_text("did not answer")
        await pa.wait_for_function(ALL_TRACKS_ENDED, timeout=5_000)
        await pb.screenshot(path=f"{SHOTS}/call-desktop-missed.png")
        cid = await call_id(pa)
        await pb.reload()  # and it is there again when the conversation opens
        await expect(pb.locator(f'[data-call-entry="{cid}"]')).to_contain_text("Missed")
        await pb.get_by_role("button", name="Calls", exact=True).click()
        row = pb.locator(f'[data-call-row="{cid}"]')
        await expect(row).to_contain_text("Missed video call from")
        await pb.screenshot(path=f"{SHOTS}/call-desktop-history.png")
    record = (await b.http.get(f"/api/v1/calls/{cid}")).json()
    assert record["outcome"] == "missed"


@pytest.mark.promise("P-CALL-1")
async def test_a_group_of_three_in_a_mesh_each_decodes_both_others_after_a_late_join(
    browser: Browser, base_url: str, app: FastAPI, container: Container
) -> None:
    async with group_of_three(browser, base_url, app, container) as (people3, pages):
        a = people3[0]
        pa, pb, pc = pages
        await call(pa)
        await expect(ring_dialog(pb)).to_be_visible(timeout=RING_MS)
        await pb.get_by_role("button", name="Decline").click()
        await answer(pc)
        await until_decoding(pa, 1)
        await until_decoding(pc, 1)
        join = pb.get_by_role("button", name="Join the call under way")
        await expect(join).to_be_visible()  # B declined, and may still join
        await pb.screenshot(path=f"{SHOTS}/call-desktop-join.png")
        await join.click()
        for page in pages:
            await until_decoding(page, 2)
        await expect(pa.locator("[data-tile]")).to_have_count(3)
        await pc.screenshot(path=f"{SHOTS}/call-phone-group.png")
        assert await horizontal_overflow(pc) == 0
        cid = await call_id(pa)
        await pc.get_by_role("button", name="Hang up").click()
        await pc.wait_for_function(ALL_TRACKS_ENDED, timeout=5_000)
        await expect(pa.locator("[data-tile]")).to_have_count(2)  # C's tile went
        await expect(pc.get_by_role("button", name="Join the call under way")).to_be_visible()
        await pa.get_by_role("button", name="Hang up").click()
        for page in (pa, pb):
            await page.wait_for_function(ALL_TRACKS_ENDED, timeout=10_000)
    record = (await a.http.get(f"/api/v1/calls/{cid}")).json()
    assert record["outcome"] == "completed"
    assert sorted(p["state"] for p in record["participants"]) == ["left", "left", "left"]


@pytest.mark.promise("P-CALL-1")
async def test_a_call_that_cannot_be_put_through_says_so_and_releases_the_microphone(
    browser: Browser, base_url: str, app: FastAPI, container: Container
) -> None:
    a, b = await people(app, container, 2)
    ab = await direct(a, b)
    assert (await b.http.put(f"/api/v1/me/blocks/{a.id}")).status_code == 204
    async with window(browser, base_url, a, PHONE) as pa:
        await open_chat(pa, f"/chat/{ab}")
        await call(pa, "audio")
        await expect(pa.get_by_role("alert")).to_have_text("Your call could not be put through.")
        await expect(pa.locator("[data-call-status]")).to_have_text("The call did not start.")
        await pa.wait_for_function(ALL_TRACKS_ENDED, timeout=5_000)
        await pa.screenshot(path=f"{SHOTS}/call-phone-not-delivered.png")
        await pa.get_by_role("button", name="Close").click()
        await expect(pa.locator("[data-call-view]")).to_be_hidden()
        await expect(pa.get_by_role("button", name="Start a voice call")).to_be_enabled()

        others = [await member(app, a) for _ in range(4)]
        group = await a.http.post(
            "/api/v1/conversations",
            json={"kind": "group", "name": "Five", "member_ids": [p.id for p in others]},
        )
        await open_chat(pa, f"/chat/{group.json()['id']}")
        await call(pa)
        await expect(pa.get_by_role("alert")).to_contain_text("more than 4")
        await pa.wait_for_function(ALL_TRACKS_ENDED, timeout=5_000)


@pytest.mark.promise("P-CALL-1")
@pytest.mark.promise("P-CALL-6")
async def test_camera_off_closes_the_camera_screen_sharing_replaces_it_and_leaving_hangs_up(
    browser: Browser, base_url: str, app: FastAPI, container: Container
) -> None:
    a, b = await people(app, container, 2)
    ab = await direct(a, b)
    async with window(browser, base_url, a) as pa, window(browser, base_url, b) as pb:
        await open_chat(pa, f"/chat/{ab}")
        await open_chat(pb, f"/chat/{ab}")
        await call(pa)
        await answer(pb)
        await until_decoding(pb, 1)
        a_on_b = pb.locator(f'[data-tile="{a.id}"]')
        await expect(a_on_b).to_have_class(re.compile("has-video"))

        await pa.get_by_role("button", name="Turn camera off").click()
        await expect(a_on_b).not_to_have_class(re.compile("has-video"))
        cameras = "() => window.__tracks.filter((t) => t.kind === 'video').map((t) => t.readyState)"
        assert await pa.evaluate(cameras) == ["ended"], "camera off closes the camera"
        await pa.get_by_role("button", name="Turn camera on").click()
        await expect(a_on_b).to_have_class(re.compile("has-video"))
        assert await pa.evaluate(cameras) == ["ended", "live"]

        await pa.get_by_role("button", name="Share your screen").click()
        await expect(pa.get_by_role("button", name="Stop sharing your screen")).to_have_attribute(
            "aria-pressed", "true"
        )
        await expect(a_on_b).to_have_class(re.compile("has-video"))
        sending = """(what) => {
            const video = window.parlourCall.peers[0].getSenders()
                .map((s) => s.track).find((t) => t && t.kind === "video");
            return what === (window.__screens.includes(video) ? "screen" : video ? "camera" : "")
        }"""
        await pa.wait_for_function(sending, arg="screen", timeout=10_000)
        await pa.get_by_role("button", name="Stop sharing your screen").click()
        await expect(pa.get_by_role("button", name="Share your screen")).to_have_attribute(
            "aria-pressed", "false"
        )
        await pa.wait_for_function(sending, arg="camera", timeout=10_000)
        assert await pa.evaluate("() => window.__screens.map((t) => t.readyState)") == ["ended"]

        await pa.get_by_role("button", name="Choose microphone and camera").click()
        devices = pa.get_by_role("dialog", name="Microphone and camera")
        mics = devices.get_by_label("Microphone")
        await expect(mics).to_be_visible()
        await pa.screenshot(path=f"{SHOTS}/call-desktop-devices.png")
        assert await mics.locator("option").count() > 1, "Chromium's fake devices offer three"
        await mics.select_option(index=1)
        await expect(devices.get_by_role("status")).to_have_text("Microphone changed.")
        microphones = "() => window.__tracks.filter((t) => t.kind === 'audio')"
        states = await pa.evaluate(f"() => ({microphones})().map((t) => t.readyState)")
        assert states == ["ended", "live"], "the old microphone is released"
        await devices.get_by_role("button", name="Done").click()

        await pb.goto("/profile")  # leaving the page mid-call hangs up
        await expect(pa.locator("[data-call-status]")).to_have_text("Call ended.", timeout=RING_MS)
        await pa.wait_for_function(ALL_TRACKS_ENDED, timeout=5_000)
