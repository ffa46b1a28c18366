"""The admin's privacy pages in a real browser at phone width: a privacy request answered, a
legal hold placed and lifted, and both found in the audit log."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from playwright.async_api import Browser, expect

from parlour.container import Container
from parlour.settings import Settings
from tests.e2e.test_account_pages import check, phone, sign_in
from tests.privacy.test_requests import code_for, mails_to, open_request, verify
from tests.support.world import instance_owner, member


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"worker_in_process": False})


@pytest.mark.promise("P-RIGHTS-6", "P-ADM-2")
async def test_an_admin_answers_a_request_holds_data_and_reads_the_log_at_phone_width(
    browser: Browser, base_url: str, app: FastAPI, container: Container
) -> None:
    owner = await instance_owner(app, container)
    admin = await member(app, owner, "admin")
    pat = await member(app, owner)
    pat_name = (await admin.http.get(f"/api/v1/users/{pat.id}")).json()["name"]
    request_id, _ = await open_request(None, app, pat.email, "rectification")
    status, _body = await verify(app, request_id, await code_for(container, pat.email))
    assert status == 200

    context, page = await phone(browser)
    await sign_in(page, base_url, admin.email, "/org")
    await page.get_by_role("button", name="Reject all").click()  # the cookie banner, out of sight
    await expect(page.get_by_role("button", name="Reject all")).to_have_count(0)
    await check(page, "admin-org")

    # The request: listed, opened, moved along, answered.
    await page.get_by_role("link", name="Privacy requests").click()
    await page.wait_for_url(base_url + "/org/privacy/requests")
    await check(page, "admin-requests")
    await page.get_by_role("link", name="Rectification request from Ada Requester").click()
    await page.wait_for_url(f"{base_url}/org/privacy/requests/{request_id}")
    await check(page, "admin-request")
    await page.get_by_role("button", name="Mark in progress").click()
    await expect(page.get_by_role("status")).to_contain_text("marked in progress")
    await expect(page.get_by_role("button", name="Mark in progress")).to_have_count(0)
    await page.get_by_role("button", name="Send the answer and close the request").click()
    # The browser itself asks for the answer first (the field is required).
    await expect(page.get_by_role("status")).to_contain_text("marked in progress")
    await page.get_by_label("Answer to Ada Requester").fill("Your job title is corrected.")
    await page.get_by_label("Answered: this is the answer").check()
    await page.get_by_role("button", name="Send the answer and close the request").click()
    await expect(page.get_by_role("status")).to_contain_text("mailed to the requester")
    await check(page, "admin-request-answered")
    mails = [b for s, b in await mails_to(container, pat.email) if s.endswith("is answered")]
    assert mails and "Your job title is corrected." in mails[0]

    # A hold on the member, placed and then lifted after the confirmation.
    await page.goto(base_url + "/org")
    await page.get_by_role("link", name="Legal holds").click()
    await page.wait_for_url(base_url + "/org/privacy/holds")
    await page.get_by_role("button", name="Place the hold").click()  # nothing chosen: refused
    await page.get_by_label("Member", exact=True).select_option(label=f"{pat_name} ({pat.email})")
    await page.get_by_label("Legal reason").fill("   ")
    await page.get_by_role("button", name="Place the hold").click()
    alert = page.get_by_role("alert")
    await expect(alert).to_contain_text("There is a problem")
    await check(page, "admin-holds-error")
    await expect(page.get_by_label("Legal reason")).to_have_attribute("aria-invalid", "true")
    await page.get_by_label("Legal reason").fill("Employment tribunal, case 2026/114")
    await page.get_by_role("button", name="Place the hold").click()
    await page.wait_for_url(base_url + "/org/privacy/holds?notice=placed")
    await check(page, "admin-holds")
    holds = (await admin.http.get(f"/api/v1/orgs/{admin.org_id}/holds")).json()
    assert [h["reason"] for h in holds] == ["Employment tribunal, case 2026/114"]
    await page.get_by_role("link", name=f"Lift the hold on {pat_name}").click()
    await expect(page.get_by_role("heading", name=f"Lift the hold on {pat_name}?")).to_be_visible()
    await check(page, "admin-hold-lift")
    await page.get_by_role("button", name="Lift the hold").click()
    await page.wait_for_url(base_url + "/org/privacy/holds?notice=lifted")
    await expect(page.get_by_role("heading", name="Lifted holds (1)")).to_be_visible()
    (hold,) = (await admin.http.get(f"/api/v1/orgs/{admin.org_id}/holds")).json()
    assert hold["released_at"] is not None

    # The audit log shows what was done, and the chain checks out.
    await page.goto(base_url + "/org")
    await page.get_by_role("link", name="Audit log").click()
    await page.wait_for_url(base_url + "/org/privacy/audit")
    for action in ("Lifted a legal hold", "Placed a legal hold", "Answered a privacy request"):
        await expect(page.get_by_role("cell", name=action).first).to_be_visible()
    await page.get_by_role("button", name="Check the chain").click()
    await expect(page.get_by_role("status")).to_contain_text("The chain holds.")
    await check(page, "admin-audit")
    await context.close()
