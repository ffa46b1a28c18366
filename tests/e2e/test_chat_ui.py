"""The chat in the browser: two people in two browser contexts, against one live server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from fastapi import FastAPI
from playwright.async_api import Browser, Dialog, Locator, Page, Route, ViewportSize, expect

from parlour.container import Container
from tests.support.browser import SHOTS, horizontal_overflow
from tests.support.world import PASSWORD, Person, direct, instance_owner, member, say

DESKTOP: ViewportSize = {"width": 1200, "height": 800}
PHONE: ViewportSize = {"width": 375, "height": 740}


@asynccontextmanager
async def window(
    browser: Browser, base_url: str, person: Person, viewport: ViewportSize = DESKTOP
) -> AsyncIterator[Page]:
    """A browser context of its own, signed in as this person through the JSON sign-in."""
    context = await browser.new_context(viewport=viewport, base_url=base_url)
    try:
        answer = await context.request.post(
            "/api/v1/auth/signin", data={"email": person.email, "password": PASSWORD}
        )
        assert answer.ok, await answer.text()
        yield await context.new_page()
    finally:
        await context.close()


async def open_chat(page: Page, path: str = "/chat") -> None:
    await page.goto(path)
    await expect(page.locator("[data-conn]")).to_have_text("Connected")


def messages(page: Page) -> Locator:
    return page.locator("[data-messages] > li")


def message(page: Page, text: str) -> Locator:
    """The message whose own text (not a quote of another) contains this."""
    return messages(page).filter(has=page.locator(".text", has_text=text))


def composer(page: Page) -> Locator:
    return page.get_by_label("Message", exact=True)


async def send(page: Page, text: str) -> None:
    await composer(page).fill(text)
    await composer(page).press("Enter")
    await expect(composer(page)).to_have_value("")


async def act(page: Page, text: str, action: str) -> None:
    """Opens the actions of the message with this text and chooses one."""
    await message(page, text).get_by_role("button", name="Message actions").click()
    await message(page, text).get_by_role("button", name=action).click()


def unread(page: Page, conversation_id: str) -> Locator:
    return page.locator(f'[data-conversation-id="{conversation_id}"] .unread')


async def name_of(person: Person) -> str:
    name: str = (await person.http.get("/api/v1/me")).json()["name"]
    return name


async def trio(app: FastAPI, container: Container) -> tuple[Person, Person, Person]:
    a = await instance_owner(app, container)
    return a, await member(app, a), await member(app, a)


@pytest.mark.promise("P-MSG-1")
async def test_a_conversation_between_two_browsers_updates_live(
    browser: Browser, base_url: str, app: FastAPI, container: Container
) -> None:
    a, b, c = await trio(app, container)
    ab, cb = await direct(a, b), await direct(c, b)
    await say(c, cb, "elsewhere")
    async with window(browser, base_url, a) as pa, window(browser, base_url, b) as pb:
        await open_chat(pa, f"/chat/{ab}")
        await open_chat(pb, f"/chat/{cb}")
        await expect(unread(pb, cb)).to_have_count(0)  # viewing it marks it read

        await send(pa, "Hello from A")
        await expect(unread(pb, ab)).to_have_text("1 unread")
        row = pb.locator(f'[data-conversation-id="{ab}"]')
        await expect(row.locator(".preview")).to_have_text("Hello from A")
        await expect(pb.locator("[data-conversations] a").first).to_have_attribute(
            "data-conversation-id", ab
        )  # the newest activity comes first

        await row.click()
        await expect(message(pb, "Hello from A")).to_have_count(1)
        await expect(unread(pb, ab)).to_have_count(0)

        await composer(pa).fill("still typ")
        await expect(pb.locator("[data-typing]")).to_have_text(f"{await name_of(a)} is typing…")
        await composer(pa).fill("")

        await act(pb, "Hello from A", "Reply")
        await send(pb, "Reply from B")
        reply = message(pa, "Reply from B")
        await expect(reply.locator(".quote")).to_contain_text("Hello from A")
        await act(pb, "Hello from A", "React with 👍")
        await expect(message(pa, "Hello from A").locator(".reaction")).to_have_text("👍 1")
        await pa.screenshot(path=f"{SHOTS}/chat-desktop-a.png")

        await act(pa, "Hello from A", "Edit")
        await send(pa, "Hello, edited")
        edited = message(pb, "Hello, edited")
        await expect(edited.locator(".edited")).to_have_text("edited")

        await act(pa, "Hello, edited", "Delete for everyone")
        await pa.get_by_role("button", name="Delete for everyone").click()
        await expect(pb.locator(".tombstone")).to_have_text("This message was deleted.")
        await expect(message(pb, "Hello, edited")).to_have_count(0)
        await expect(message(pb, "Reply from B").locator(".quote")).to_contain_text(
            "A deleted message"
        )
        await pb.screenshot(path=f"{SHOTS}/chat-desktop-b.png")


@pytest.mark.promise("P-MSG-1")
async def test_markup_in_a_message_is_shown_as_text(
    browser: Browser, base_url: str, app: FastAPI, container: Container
) -> None:
    a, b, _ = await trio(app, container)
    ab = await direct(a, b)
    attack = "<img src=x onerror=alert(1)>"
    async with window(browser, base_url, a) as pa, window(browser, base_url, b) as pb:
        dialogs: list[str] = []

        def record(dialog: Dialog) -> None:
            dialogs.append(dialog.message)

        pb.on("dialog", record)
        pa.on("dialog", record)
        await open_chat(pa, f"/chat/{ab}")
        await open_chat(pb, f"/chat/{ab}")
        await send(pa, attack)
        await send(pa, "**bold** and `code`")
        await expect(message(pb, attack).locator(".text")).to_have_text(attack)
        await expect(message(pb, "bold and code").locator("strong")).to_have_text("bold")
        assert await pb.locator("[data-messages] img").count() == 0
        assert await pa.locator("[data-messages] img").count() == 0
        preview = pb.locator(f'[data-conversation-id="{ab}"] .preview')
        await expect(preview).to_have_text("bold and code")
        assert dialogs == []

        toggle = message(pb, attack).get_by_role("button", name="Message actions")
        await toggle.focus()
        await pb.keyboard.press("Enter")
        await expect(toggle).to_have_attribute("aria-expanded", "true")
        await expect(
            message(pb, attack).get_by_role("button", name="React with 👍")
        ).to_be_focused()
        await pb.keyboard.press("Escape")
        await expect(toggle).to_have_attribute("aria-expanded", "false")
        await expect(toggle).to_be_focused()

        await composer(pa).fill("x" * 10_001)
        await composer(pa).press("Enter")  # over the limit: the counter says so, nothing is sent
        await expect(pa.locator("[data-char-count]")).to_contain_text("1 character too many")
        await expect(pa.get_by_role("button", name="Send")).to_be_disabled()
        await expect(composer(pa)).to_have_value("x" * 10_001)  # the draft is kept


@pytest.mark.promise("P-MSG-1")
async def test_history_loads_page_by_page_without_duplicates(
    browser: Browser, base_url: str, app: FastAPI, container: Container
) -> None:
    a, b, _ = await trio(app, container)
    ab = await direct(a, b)
    sent = [(await say(a, ab, f"history {i}"))["id"] for i in range(120)]
    async with window(browser, base_url, b) as pb:
        await open_chat(pb, f"/chat/{ab}")
        await expect(messages(pb)).to_have_count(40)
        scroller = pb.locator("[data-scroller]")
        for expected in (80, 120):
            await scroller.evaluate("el => { el.scrollTop = 0; }")
            await expect(messages(pb)).to_have_count(expected)
        await scroller.evaluate("el => { el.scrollTop = 0; }")  # learns there is no more
        await expect(pb.locator("[data-history-state]")).to_have_text(
            "This is the beginning of the conversation."
        )
        ids = await messages(pb).evaluate_all("items => items.map(li => Number(li.dataset.id))")
        assert ids == sent


@pytest.mark.promise("P-MSG-6")
async def test_a_blocked_sender_sees_not_delivered(
    browser: Browser, base_url: str, app: FastAPI, container: Container
) -> None:
    a, b, _ = await trio(app, container)
    ab = await direct(a, b)
    async with window(browser, base_url, a) as pa, window(browser, base_url, b) as pb:
        await open_chat(pa, f"/chat/{ab}")
        await open_chat(pb, f"/chat/{ab}")
        await pb.get_by_role("button", name=f"Block {await name_of(a)}").click()
        await expect(pb.locator("[data-blocked-note]")).to_contain_text("You blocked")

        await send(pa, "are you there?")
        await expect(message(pa, "are you there?").locator(".not-delivered")).to_have_text(
            "Not delivered"
        )
        await expect(pa.locator("[data-composer-error]")).to_contain_text("not delivered")
        await expect(message(pb, "are you there?")).to_have_count(0)

        await pb.get_by_role("button", name=f"Unblock {await name_of(a)}").click()
        await expect(pb.locator("[data-blocked-note]")).to_be_hidden()
        await send(pa, "second try")
        await expect(message(pb, "second try")).to_have_count(1)


async def test_a_phone_shows_one_pane_at_a_time(
    browser: Browser, base_url: str, app: FastAPI, container: Container
) -> None:
    a, b, _ = await trio(app, container)
    ab = await direct(a, b)
    await say(a, ab, "A long word: " + "unbreakable" * 20)
    await say(a, ab, "A reply to the long word, with a **bold** part")
    async with window(browser, base_url, b, PHONE) as pb:
        await open_chat(pb)
        banner = pb.get_by_role("button", name="Reject all")
        if await banner.count():  # the cookie banner, answered as a person would
            await banner.click()
        conversations = pb.get_by_role("navigation", name="Conversations")
        await expect(conversations).to_be_visible()
        assert await horizontal_overflow(pb) == 0
        await pb.screenshot(path=f"{SHOTS}/chat-phone-list.png")

        await conversations.locator(f'[data-conversation-id="{ab}"]').click()
        await expect(message(pb, "bold part")).to_be_visible()
        await expect(conversations).to_be_hidden()
        assert pb.url.endswith(f"/chat/{ab}")
        assert await horizontal_overflow(pb) == 0
        await act(pb, "bold part", "Reply")
        await pb.screenshot(path=f"{SHOTS}/chat-phone-conversation.png")
        await composer(pb).press("Escape")

        await pb.get_by_role("button", name="Back to conversations", exact=True).click()
        await expect(conversations).to_be_visible()
        await expect(pb.locator("[data-conv]")).to_be_hidden()
        assert pb.url.endswith("/chat")
        assert await horizontal_overflow(pb) == 0


@pytest.mark.promise("P-MSG-1")
async def test_messages_sent_while_offline_arrive_once_on_return(
    browser: Browser, base_url: str, app: FastAPI, container: Container
) -> None:
    a, b, _ = await trio(app, container)
    ab = await direct(a, b)
    await say(a, ab, "before")
    async with window(browser, base_url, b) as pb:
        await open_chat(pb, f"/chat/{ab}")
        await expect(message(pb, "before")).to_have_count(1)
        await pb.context.set_offline(True)
        await expect(pb.locator("[data-conn]")).to_contain_text("Offline")
        for i in range(3):
            await say(a, ab, f"while away {i}")
        await pb.context.set_offline(False)
        await expect(pb.locator("[data-conn]")).to_have_text("Connected")
        for i in range(3):
            await expect(message(pb, f"while away {i}")).to_have_count(1)
        await say(a, ab, "after")
        await expect(message(pb, "after")).to_have_count(1)
        await expect(messages(pb)).to_have_count(5)


@pytest.mark.promise("P-MSG-5")
async def test_a_new_group_says_who_sees_its_name(
    browser: Browser, base_url: str, app: FastAPI, container: Container
) -> None:
    a, b, c = await trio(app, container)
    b_name, c_name = await name_of(b), await name_of(c)
    async with window(browser, base_url, a) as pa, window(browser, base_url, b) as pb:
        await open_chat(pa)
        await open_chat(pb)
        await pa.get_by_role("button", name="New chat").click()
        dialog = pa.get_by_role("dialog", name="New conversation")
        await dialog.get_by_label("A group").check()
        name = dialog.get_by_label("Name")
        await expect(name).to_have_accessible_description(
            "Everyone you add sees this name, and so will anyone added later."
        )
        await name.fill("Project Kite")
        await dialog.get_by_label(b_name).check()
        await dialog.get_by_label(c_name).check()
        await pa.screenshot(path=f"{SHOTS}/chat-new-group.png")
        await dialog.get_by_role("button", name="Start").click()
        await expect(pa.locator("[data-conv-title]")).to_have_text("Project Kite")

        row = pb.locator("[data-conversations] a").filter(has_text="Project Kite")
        await expect(row).to_have_count(1)
        await send(pa, "welcome, both")
        await expect(row.locator(".preview")).to_contain_text("welcome, both")
        await expect(row.locator(".unread")).to_have_text("1 unread")

        await pb.get_by_label("Search your conversations").fill("welcome")
        result = pb.locator("[data-results] a").filter(has_text="Project Kite")
        await expect(result).to_contain_text("welcome, both")
        await result.click()
        await expect(pb.locator("[data-conv-title]")).to_have_text("Project Kite")
        await expect(message(pb, "welcome, both")).to_have_count(1)


@pytest.mark.promise("P-MSG-1")
async def test_a_retry_after_a_lost_answer_sends_once(
    browser: Browser, base_url: str, app: FastAPI, container: Container
) -> None:
    a, b, _ = await trio(app, container)
    ab = await direct(a, b)
    async with window(browser, base_url, a) as pa, window(browser, base_url, b) as pb:
        await open_chat(pa, f"/chat/{ab}")
        await open_chat(pb, f"/chat/{ab}")
        lost: list[str] = []

        async def lose_first_answer(route: Route) -> None:
            if route.request.method != "POST" or lost:
                await route.continue_()
                return
            lost.append(route.request.headers["idempotency-key"])
            await route.fetch()  # the server receives and stores it...
            await route.abort("connectionreset")  # ...but the answer never arrives

        await pa.route("**/api/v1/conversations/*/messages", lose_first_answer)
        await composer(pa).fill("only once")
        await composer(pa).press("Enter")
        await expect(pa.locator("[data-composer-error]")).to_contain_text("No connection")
        await expect(composer(pa)).to_have_value("only once")
        await expect(message(pb, "only once")).to_have_count(1)

        async with pa.expect_request("**/api/v1/conversations/*/messages") as retry:
            await composer(pa).press("Enter")
        assert (await retry.value).headers["idempotency-key"] == lost[0]
        await expect(composer(pa)).to_have_value("")
        await expect(message(pa, "only once")).to_have_count(1)
        await expect(message(pb, "only once")).to_have_count(1)
        assert len((await b.http.get(f"/api/v1/conversations/{ab}/messages")).json()) == 1
