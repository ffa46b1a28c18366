"""Groups in the browser: the Details dialog (rename, add, remove, roles, leave), read
receipts and the unread total in the window's title, with each person in a context of their
own against one live server."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from playwright.async_api import Browser, Locator, Page, WebSocketRoute, expect

from parlour.container import Container
from tests.e2e.test_chat_ui import (
    PHONE,
    SHOTS,
    composer,
    message,
    name_of,
    open_chat,
    send,
    trio,
    window,
)
from tests.support.browser import horizontal_overflow
from tests.support.world import Person, direct, say

STREAM = re.compile(r"/api/v1/stream")


async def group(owner: Person, name: str, *others: Person) -> str:
    body = {"kind": "group", "name": name, "member_ids": [p.id for p in others]}
    response = await owner.http.post("/api/v1/conversations", json=body)
    assert response.status_code == 201, response.text
    conversation_id: str = response.json()["id"]
    return conversation_id


def row(page: Page, conversation_id: str) -> Locator:
    return page.locator(f'[data-conversations] [data-conversation-id="{conversation_id}"]')


def title(page: Page) -> Locator:
    return page.locator("[data-conv-title]")


async def details(page: Page) -> Locator:
    """Opens the Details dialog of the open conversation."""
    await page.get_by_role("button", name="Details").click()
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_be_visible()
    return dialog


def members(dialog: Locator) -> Locator:
    return dialog.locator("[data-members] > li")


@pytest.mark.promise("P-MSG-1")
@pytest.mark.promise("P-MSG-6")
async def test_renaming_adding_and_removing_show_live_in_every_window(
    browser: Browser, base_url: str, app: FastAPI, container: Container
) -> None:
    a, b, c = await trio(app, container)
    b_name, c_name = await name_of(b), await name_of(c)
    kite = await group(a, "Kite", b)
    async with (
        window(browser, base_url, a) as pa,
        window(browser, base_url, b) as pb,
        window(browser, base_url, c) as pc,
    ):
        await open_chat(pa, f"/chat/{kite}")
        await open_chat(pb, f"/chat/{kite}")
        await open_chat(pc)

        panel = await details(pa)
        name = panel.get_by_label("Name", exact=True)
        await expect(name).to_have_accessible_description(
            "Everyone in this group sees its name, and so will anyone added later."
        )
        await name.fill("Kite crew")
        await panel.get_by_role("button", name="Rename").click()
        await expect(title(pb)).to_have_text("Kite crew")
        await expect(row(pb, kite).locator(".name")).to_have_text("Kite crew")

        await panel.get_by_label("Filter people to add by name").fill(c_name)
        await panel.get_by_label(c_name).check()
        await panel.get_by_role("button", name="Add", exact=True).click()
        await expect(row(pc, kite).locator(".name")).to_have_text("Kite crew")
        await expect(members(panel)).to_have_count(3)
        await panel.get_by_role("button", name=f"Make {c_name} an admin").click()
        await expect(members(panel).filter(has_text=c_name).locator(".tag")).to_have_text("admin")
        await pa.screenshot(path=f"{SHOTS}/chat-group-details.png")

        await send(pb, "still here")
        await panel.get_by_role("button", name=f"Remove {b_name} from the group").click()
        await expect(members(panel)).to_have_count(2)
        await expect(pb.locator("[data-left-note]")).to_contain_text("no longer in this group")
        await expect(composer(pb)).to_be_hidden()
        await expect(row(pb, kite)).to_have_count(0)
        await expect(
            pc.locator("[data-conversations] a").filter(has_text="Kite crew")
        ).to_have_count(1)
        await pb.screenshot(path=f"{SHOTS}/chat-group-removed.png")


@pytest.mark.promise("P-MSG-6")
async def test_a_send_after_removal_is_refused_with_a_reason_and_leaving_asks_first(
    browser: Browser, base_url: str, app: FastAPI, container: Container
) -> None:
    a, b, c = await trio(app, container)
    b_name = await name_of(b)
    kite = await group(a, "Kite", b, c)

    def hide_removals(ws: WebSocketRoute) -> None:
        """A window that missed the removal (its connection lost that event)."""
        server = ws.connect_to_server()
        ws.on_message(server.send)
        server.on_message(lambda m: None if "member.removed" in str(m) else ws.send(m))

    async with window(browser, base_url, a) as pa, window(browser, base_url, b) as pb:
        await pb.route_web_socket(STREAM, hide_removals)
        await open_chat(pa, f"/chat/{kite}")
        await open_chat(pb, f"/chat/{kite}")
        panel = await details(pa)
        await panel.get_by_role("button", name=f"Remove {b_name} from the group").click()
        await expect(members(panel)).to_have_count(2)

        await composer(pb).fill("can anyone hear me?")
        await composer(pb).press("Enter")
        note = pb.locator("[data-left-note]")
        await expect(note).to_have_text(
            "Your message was not sent: you are no longer in this group."
        )
        await expect(composer(pb)).to_be_hidden()
        await expect(row(pb, kite)).to_have_count(0)
        await panel.get_by_role("button", name="Close").click()

    async with window(browser, base_url, a) as pa, window(browser, base_url, c) as pc:
        await open_chat(pa, f"/chat/{kite}")
        await open_chat(pc, f"/chat/{kite}")
        panel = await details(pa)
        await expect(members(panel)).to_have_count(2)
        mine = await details(pc)
        await expect(mine.get_by_label("Name", exact=True)).to_be_hidden()  # not an admin
        await mine.get_by_role("button", name="Leave group").click()
        await expect(mine.get_by_role("group")).to_contain_text("Leave “Kite”?")
        await mine.get_by_role("button", name="Stay").click()
        await expect(members(panel)).to_have_count(2)
        await mine.get_by_role("button", name="Leave group").click()
        await mine.get_by_role("button", name="Leave", exact=True).click()
        await expect(row(pc, kite)).to_have_count(0)
        await expect(pc.locator("[data-conv]")).to_be_hidden()
        await expect(members(panel)).to_have_count(1)


@pytest.mark.promise("P-MSG-1")
async def test_read_receipts_and_the_unread_total_in_the_title(
    browser: Browser, base_url: str, app: FastAPI, container: Container
) -> None:
    a, b, c = await trio(app, container)
    b_name, c_name = await name_of(b), await name_of(c)
    ab = await direct(a, b)
    kite = await group(a, "Kite", b, c)
    async with window(browser, base_url, a) as pa, window(browser, base_url, b) as pb:
        await open_chat(pa, f"/chat/{ab}")
        await open_chat(pb)
        await expect(pb).to_have_title("Chat · Parlour")
        await send(pa, "first")
        await send(pa, "second")
        sent = await say(a, kite, "to the group")
        await expect(pb).to_have_title("(3) Chat · Parlour")
        await expect(pa.locator(".receipt")).to_have_count(0)

        await row(pb, ab).click()
        await expect(message(pa, "second").locator(".receipt")).to_have_text("Seen")
        await expect(pa.locator(".receipt")).to_have_count(1)
        await expect(pb).to_have_title(f"(1) {await name_of(a)} · Parlour")

        await row(pa, kite).click()
        await expect(message(pa, "to the group")).to_have_count(1)
        await expect(pa.locator(".receipt")).to_have_count(0)
        await row(pb, kite).click()
        await expect(pb).to_have_title("Kite · Parlour")
        seen = message(pa, "to the group").locator(".seen-by")
        await expect(seen).to_have_text("Seen by 1")
        await seen.focus()
        names = message(pa, "to the group").locator(".seen-names")
        await expect(names).to_be_visible()
        await expect(names).to_have_text(b_name)
        await pa.screenshot(path=f"{SHOTS}/chat-seen-by.png")

        await c.http.post(f"/api/v1/conversations/{kite}/read", json={"message_id": sent["id"]})
        await expect(seen).to_have_text("Seen by 2")
        await expect(names).to_have_text(", ".join(sorted([b_name, c_name])))


async def test_the_details_fit_a_phone(
    browser: Browser, base_url: str, app: FastAPI, container: Container
) -> None:
    a, b, c = await trio(app, container)
    kite = await group(a, "A group with a rather long name for a small screen", b, c)
    await say(b, kite, "hello")
    async with window(browser, base_url, a, PHONE) as pa:
        await open_chat(pa, f"/chat/{kite}")
        banner = pa.get_by_role("button", name="Reject all")
        if await banner.count():  # the cookie banner, answered as a person would
            await banner.click()
        assert await horizontal_overflow(pa) == 0
        await pa.screenshot(path=f"{SHOTS}/chat-phone-group.png")
        panel = await details(pa)
        await expect(members(panel)).to_have_count(3)
        assert await horizontal_overflow(pa) == 0
        box = await panel.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375
        await pa.screenshot(path=f"{SHOTS}/chat-phone-details.png")
