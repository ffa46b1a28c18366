"""The webhooks page on a phone (390 px): subscribe, copy the secret, read the delivery log.
Screenshots go to test-shots/ (or PARLOUR_TEST_SHOTS) for a person to see."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from playwright.async_api import Browser, expect

from parlour.container import Container
from parlour.settings import Settings
from tests.e2e.test_small_screens import PHONE, SHOTS, shot, signed_in
from tests.support.browser import horizontal_overflow
from tests.support.receiver import Receiver, signed_by
from tests.support.world import direct, instance_owner, member, say


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "worker_in_process": False,
            "webhook_allow_http": True,
            "webhook_allow_private": True,
        }
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.start()
    yield r
    r.stop()


async def test_an_owner_adds_a_webhook_on_a_phone_and_reads_its_log(
    app: FastAPI, container: Container, browser: Browser, base_url: str, receiver: Receiver
) -> None:
    owner = await instance_owner(app, container)
    other = await member(app, owner)
    async with signed_in(browser, base_url, owner, PHONE) as page:
        await page.goto("/org")
        await page.get_by_role("button", name="Reject all").click()
        await page.get_by_role("link", name="Webhooks").click()
        await expect(page.get_by_role("heading", name="Webhooks", exact=True)).to_be_visible()
        await page.get_by_label("URL").fill(receiver.url)
        await page.get_by_role("checkbox", name="message.created").check()
        await page.get_by_role("checkbox", name="Message text").check()
        await page.get_by_role("button", name="Add webhook").click()
        secret_box = page.get_by_role("textbox", name="Secret")
        await expect(secret_box).to_be_visible()
        secret = await secret_box.input_value()
        assert secret.startswith("whsec_")
        assert await horizontal_overflow(page) == 0
        await shot(page, "webhooks-phone-created")
        await page.screenshot(path=str(SHOTS / "webhooks-phone-page.png"), full_page=True)

        await say(other, await direct(owner, other), "hello from the phone test")
        assert await container.jobs.run_due() == 1
        assert signed_by(secret, receiver.received[0])

        await page.goto("/org/webhooks")
        await expect(page.get_by_text("HTTP 200")).to_be_visible()
        await page.get_by_role("link", name=receiver.url).click()
        await expect(page.get_by_role("heading", name="Deliveries")).to_be_visible()
        await expect(page.get_by_text("HTTP 200,")).to_be_visible()
        assert await horizontal_overflow(page) == 0
        await shot(page, "webhooks-phone-log")
    await owner.close()
    await other.close()
