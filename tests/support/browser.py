"""Headless Chromium from the system, driven by Playwright, with fake camera and microphone."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from playwright.async_api import Browser, Page, async_playwright

from tests.support.services import missing

# Screenshots for a person to look at, never read back: PARLOUR_TEST_SHOTS, or test-shots/ in
# the checkout (ignored by git).
SHOTS = Path(
    os.environ.get("PARLOUR_TEST_SHOTS") or Path(__file__).resolve().parents[2] / "test-shots"
)

FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
]


def chromium_path() -> str | None:
    explicit = os.environ.get("PARLOUR_CHROMIUM")
    if explicit:
        return explicit
    return shutil.which("chromium") or shutil.which("chromium-browser")


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = chromium_path()
    if path is None:
        missing(
            "Chromium", "no chromium on PATH (run `make chromium` as root, or set PARLOUR_CHROMIUM)"
        )
    assert path is not None
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=path, headless=True, args=FLAGS)
        try:
            yield browser
        finally:
            await browser.close()


async def horizontal_overflow(page: Page) -> int:
    """How many CSS pixels the page is wider than its viewport (0 when nothing overflows)."""
    width: int = await page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    return width
