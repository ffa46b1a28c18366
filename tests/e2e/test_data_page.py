"""Your data, in a real browser at phone width: a download of everything, then the account goes."""

from __future__ import annotations

import zipfile
from urllib.parse import urlparse

import pytest
from fastapi import FastAPI
from playwright.async_api import Browser, expect

from parlour.container import Container
from parlour.settings import Settings
from tests.e2e.test_account_pages import check, phone, sign_in
from tests.support.world import PASSWORD, instance_owner, member


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The export job runs when the test says so, so 'being prepared' can be seen."""
    return settings.model_copy(update={"worker_in_process": False})


@pytest.mark.promise("P-RIGHTS-1", "P-RIGHTS-4", "P-ACC-5")
async def test_download_my_data_then_delete_my_account_at_phone_width(
    browser: Browser, base_url: str, app: FastAPI, container: Container, tmp_path: object
) -> None:
    owner = await instance_owner(app, container)
    pat = await member(app, owner)
    context, page = await phone(browser)
    await sign_in(page, base_url, pat.email, "/privacy/centre")
    await page.get_by_role("link", name="Download your data or delete your account").click()
    await page.wait_for_url(base_url + "/privacy/data")
    await check(page, "data")

    export = page.get_by_role("region", name="Download my data")
    await export.get_by_label("Your password").fill(PASSWORD)
    await export.get_by_role("button", name="Prepare my download").click()
    await page.wait_for_url(base_url + "/privacy/data?notice=export-requested")
    await expect(page.get_by_role("status")).to_contain_text("We will email you")
    await expect(page.get_by_role("cell", name="Being prepared")).to_be_visible()
    assert await container.jobs.run_due() >= 1
    await page.reload()
    await check(page, "data-ready")
    async with page.expect_download() as info:
        await page.get_by_role("link", name="Download").click()
    saved = await (await info.value).path()
    assert "manifest.json" in zipfile.ZipFile(saved).namelist()

    delete = page.get_by_role("region", name="Delete my account")
    await delete.get_by_label("Your password").fill(PASSWORD)
    await delete.get_by_label('Type "delete" to confirm').fill("delete")
    await delete.get_by_role("button", name="Delete my account").click()
    await expect(page.get_by_role("heading", name="Your account is closed")).to_be_visible()
    await check(page, "data-closed")
    await page.goto(base_url + "/profile")
    assert urlparse(page.url).path == "/signin"
    await context.close()
