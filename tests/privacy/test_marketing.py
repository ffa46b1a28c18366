"""News mail is opt-in, carries a one-click unsubscribe that needs no sign-in, and has no
tracking pixels (P-CNS-5)."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlparse

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from parlour.container import Container
from parlour.features.consent.models import ConsentEntry
from parlour.features.consent.rules import DataSubject
from parlour.mail.models import OutboxMail
from parlour.mail.service import Mail, _headers_of
from parlour.settings import Settings
from tests.conftest import make_client
from tests.support.html import parse_html
from tests.support.server import parlour, parlour_env
from tests.support.world import Person, instance_owner, member

NEWS = "Parlour 2.0 is out.\nRead what is new: https://parlour.example/news/2-0"
URL = re.compile(r"https?://[^\s>]+")


async def opt_in_from_the_centre(person: Person) -> None:
    """As a person would: the privacy centre's Give consent button for news and offers."""
    page = await person.http.get("/privacy/centre")
    token = parse_html(page.text).csrf or person.http.headers["X-CSRF-Token"]
    response = await person.http.post(
        "/privacy/centre",
        data={"csrf_token": token, "purpose": "marketing", "action": "give"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


async def news_mails(container: Container) -> list[OutboxMail]:
    async with container.db.transaction() as uow:
        rows = await uow.session.scalars(
            select(OutboxMail).where(OutboxMail.subject == "News from Parlour")
        )
        return list(rows)


async def ledger(container: Container, user_id: str) -> list[ConsentEntry]:
    async with container.db.transaction() as uow:
        rows = await uow.session.scalars(
            select(ConsentEntry)
            .where(ConsentEntry.user_id == user_id, ConsentEntry.purpose == "marketing")
            .order_by(ConsentEntry.id)
        )
        return list(rows)


@pytest.mark.promise("P-CNS-5")
async def test_news_mail_goes_only_to_people_who_opted_in_and_tracks_nobody(
    app: FastAPI, container: Container
) -> None:
    owner = await instance_owner(app, container)
    keen, changed_mind, _never_asked = [await member(app, owner) for _ in range(3)]
    await opt_in_from_the_centre(keen)
    await opt_in_from_the_centre(changed_mind)
    withdraw = {"changes": [{"purpose": "marketing", "action": "withdraw"}]}
    assert (await changed_mind.http.post("/api/v1/me/consents", json=withdraw)).is_success

    sent = await container.marketing.send("News from Parlour", NEWS)
    assert (sent.queued, sent.skipped) == (1, 3)
    [mail] = await news_mails(container)
    assert mail.to_addr == keen.email

    headers = dict(_headers_of(mail.headers))
    link = container.marketing.unsubscribe_url(keen.id)
    assert headers == {
        "List-Unsubscribe": f"<{link}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    assert link.startswith(container.settings.base_url + "/unsubscribe/")
    assert f"Unsubscribe with one click: {link}" in mail.body
    # No pixels, no images, and no address made for this recipient except the way out.
    assert not re.search(r"<\s*img|<\s*html|\.gif|\.png|track|open\?", mail.body, re.I)
    found = set(URL.findall(mail.body))
    centre = container.settings.base_url + "/privacy/centre"
    assert found == {link, centre, "https://parlour.example/news/2-0"}


@pytest.mark.promise("P-CNS-5")
async def test_one_click_unsubscribes_without_signing_in_or_a_csrf_token(
    app: FastAPI, container: Container
) -> None:
    owner = await instance_owner(app, container)
    await opt_in_from_the_centre(owner)
    me = DataSubject(user_id=owner.id)
    assert await container.consent.may_process(me, "marketing")
    await container.marketing.send("News from Parlour", NEWS)
    [mail] = await news_mails(container)
    link = dict(_headers_of(mail.headers))["List-Unsubscribe"].strip("<>")
    path = urlparse(link).path

    async with make_client(app) as stranger:  # a mail program: no cookies at all
        page = await stranger.get(path)
        assert page.status_code == 200
        assert "One click stops our news mail" in page.text
        assert f'action="{path}"' in page.text
        response = await stranger.post(path, data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200 and response.text == "Unsubscribed."
    assert not await container.consent.may_process(me, "marketing")
    entries = await ledger(container, owner.id)
    assert [(e.decision, e.how) for e in entries] == [
        ("given", "settings"),
        ("withdrawn", "unsubscribe"),
    ]
    assert entries[-1].policy_version == container.policy.current().version

    # The person's own signed-in browser, clicking the page's button: no CSRF token needed,
    # and a second click records nothing more.
    clicked = await owner.http.post(path, follow_redirects=False)
    assert clicked.status_code == 303 and clicked.headers["location"] == path + "?done=1"
    done = await owner.http.get(path + "?done=1")
    assert "You are unsubscribed" in done.text
    assert len(await ledger(container, owner.id)) == 2

    sent = await container.marketing.send("News from Parlour", NEWS)
    assert sent.queued == 0 and len(await news_mails(container)) == 1


async def test_a_forged_unsubscribe_link_is_refused(app: FastAPI, container: Container) -> None:
    owner = await instance_owner(app, container)
    token = container.marketing.token_for(owner.id)
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    async with make_client(app) as stranger:
        assert (await stranger.get(f"/unsubscribe/{forged}")).status_code == 400
        response = await stranger.post(f"/unsubscribe/{forged}", data={"x": "y"})
    assert response.status_code == 400
    assert await ledger(container, owner.id) == []


async def test_news_mail_must_be_plain_text(container: Container) -> None:
    from parlour.core.errors import AppError

    for body in ('Hi <img src="https://t.example/p.gif">', "<html><body>x</body></html>", ""):
        with pytest.raises(AppError) as refused:
            await container.marketing.send("News", body)
        assert refused.value.code.value == "validation_failed"


@pytest.mark.promise("P-CNS-5")
async def test_the_cli_queues_news_for_opted_in_people_only(
    app: FastAPI, container: Container, settings: Settings, tmp_path: Path
) -> None:
    owner = await instance_owner(app, container)
    other = await member(app, owner)
    await opt_in_from_the_centre(other)
    body = tmp_path / "news.txt"
    body.write_text(NEWS)
    env = parlour_env(settings.data_dir, database_url=settings.resolved_database_url)
    env["PARLOUR_SECRET_KEY"] = container.secret_key.decode()
    result = parlour(
        "marketing", "send", "--subject", "News from Parlour", "--body-file", str(body), env=env
    )
    assert result.returncode == 0, result.stderr
    assert "Queued 1 mails; 1 people have not agreed to news." in result.stdout
    assert [m.to_addr for m in await news_mails(container)] == [other.email]


@pytest.mark.promise("P-CNS-5")
async def test_the_unsubscribe_headers_reach_the_smtp_server(
    app: FastAPI, container: Container, settings: Settings
) -> None:
    import asyncio

    from aiosmtpd.controller import Controller

    from parlour.mail.service import SmtpTransport
    from tests.contracts.test_smtp import Inbox, free_port

    owner = await instance_owner(app, container)
    await opt_in_from_the_centre(owner)
    await container.marketing.send("News from Parlour", NEWS)
    [row] = await news_mails(container)
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        smtp = settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": port})
        smtp = smtp.model_copy(update={"smtp_starttls": False})
        mail = Mail(row.to_addr, row.subject, row.body, _headers_of(row.headers))
        await asyncio.to_thread(SmtpTransport(smtp).send, mail)
    finally:
        controller.stop()
    [(_, message)] = inbox.messages
    link = container.marketing.unsubscribe_url(owner.id)
    assert message["List-Unsubscribe"] == f"<{link}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message.get_content_type() == "text/plain"
