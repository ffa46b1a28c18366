"""The chat names people who deleted their account as "Deleted user 7f3a", before and after
their erasure, and keeps working (the member list it loads answered 500 while anyone was
closed)."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from playwright.async_api import Browser, expect

from parlour.container import Container
from parlour.features.accounts.display import deleted_label
from parlour.settings import Settings
from tests.e2e.test_chat_ui import open_chat, window
from tests.support.world import PASSWORD, direct, instance_owner, member, say


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"worker_in_process": False})  # erasure when we say


@pytest.mark.promise("P-RIGHTS-4")
async def test_the_chat_names_a_deleted_person_by_the_label_alone(
    browser: Browser, base_url: str, app: FastAPI, container: Container
) -> None:
    a = await instance_owner(app, container)
    b, c = await member(app, a), await member(app, a)
    b_name = (await a.http.get(f"/api/v1/users/{b.id}")).json()["name"]
    group = await a.http.post(
        "/api/v1/conversations", json={"kind": "group", "name": "Team", "member_ids": [b.id, c.id]}
    )
    assert group.status_code == 201, group.text
    ab = await direct(a, b)
    await say(b, ab, "a direct word")
    await say(b, group.json()["id"], "see you all")
    assert (
        await b.http.post("/api/v1/auth/reauthenticate", json={"password": PASSWORD})
    ).status_code == 204
    assert (await b.http.delete("/api/v1/me")).status_code == 202

    async with window(browser, base_url, a) as page:
        await open_chat(page)
        rows = page.locator("[data-conversations]")
        closed = deleted_label(b.id)
        await expect(rows.locator(f'[data-conversation-id="{ab}"]')).to_contain_text(closed)
        await expect(rows).to_contain_text(f"{closed}: see you all")
        await expect(rows).not_to_contain_text(b_name)

        assert await container.jobs.run_due() == 1  # erased: a tombstone stands in
        await open_chat(page)
        await expect(rows).to_contain_text(re.compile(r"Deleted user [0-9a-f]{4}: "))
        await expect(rows).not_to_contain_text("Someone")
        await expect(rows).not_to_contain_text(b_name)
