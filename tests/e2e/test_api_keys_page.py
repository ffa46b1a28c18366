"""The API keys page on a phone (390 px): reached from /org, a key made and shown once with a
Copy key button, the key then working for a program, revoked from the list. Screenshots go to
test-shots/ (or PARLOUR_TEST_SHOTS) for a person to look at."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from playwright.async_api import Browser, ViewportSize, expect

from parlour.container import Container
from tests.support.browser import SHOTS, horizontal_overflow
from tests.support.world import PASSWORD, instance_owner

PHONE: ViewportSize = {"width": 390, "height": 844}


@pytest.mark.promise("P-API-1")
async def test_an_owner_makes_sees_once_and_revokes_a_key_on_a_phone(
    app: FastAPI, container: Container, browser: Browser, base_url: str
) -> None:
    owner = await instance_owner(app, container)
    SHOTS.mkdir(exist_ok=True)
    context = await browser.new_context(viewport=PHONE, base_url=base_url)
    try:
        answer = await context.request.post(
            "/api/v1/auth/signin", data={"email": owner.email, "password": PASSWORD}
        )
        assert answer.ok, await answer.text()
        page = await context.new_page()
        await page.goto("/org")
        await page.get_by_role("link", name="API keys").click()
        await expect(page.get_by_role("heading", name="API keys", level=1)).to_be_visible()
        assert await horizontal_overflow(page) == 0

        await page.get_by_label("Name").fill("Status board")
        await page.get_by_label("messages:read").check()
        await page.get_by_label("Works for").select_option("30")
        await page.get_by_role("button", name="Create key").click()
        field = page.get_by_label("API key", exact=True)
        await expect(field).to_be_visible()
        token = await field.input_value()
        assert token.startswith("pk_")
        await expect(page.get_by_role("button", name="Copy key")).to_be_visible()
        assert await horizontal_overflow(page) == 0
        await page.screenshot(path=str(SHOTS / "api-keys-created-phone.png"), full_page=True)

        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver", headers=headers
        ) as program:
            assert (await program.get("/api/v1/conversations")).status_code == 200

        await page.goto("/org/api-keys")
        await expect(page.get_by_label("API key", exact=True)).to_have_count(0)  # shown once
        row = page.get_by_role("row").filter(has_text="Status board")
        await expect(row).to_contain_text("Active")
        assert await horizontal_overflow(page) == 0
        await page.screenshot(path=str(SHOTS / "api-keys-list-phone.png"), full_page=True)
        await page.get_by_role("button", name="Revoke the key Status board").click()
        await expect(page.get_by_role("status")).to_contain_text("The key is revoked")
        await expect(row).to_contain_text("Revoked")
        await page.screenshot(path=str(SHOTS / "api-keys-revoked-phone.png"), full_page=True)

        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver", headers=headers
        ) as program:
            refused = await program.get("/api/v1/conversations")
        assert refused.status_code == 401 and refused.json()["code"] == "api_key_revoked"
    finally:
        await context.close()
        await owner.close()
