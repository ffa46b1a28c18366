"""Service mail leaves through a real SMTP conversation when SMTP is configured."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes
from email.message import Message
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from parlour.app import create_app
from parlour.core.clock import FixedClock
from parlour.settings import Settings
from tests.conftest import make_client
from tests.support.world import PASSWORD, instance_owner


async def wait_for_mail(inbox: Inbox, seconds: float = 10) -> None:
    """The sender works in the background; poll the inbox for a bounded time."""
    for _ in range(int(seconds / 0.05)):
        if inbox.messages:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("no mail arrived")


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(content)))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.mark.promise("P-ACC-3")
async def test_password_reset_link_is_mailed_over_smtp(
    smtp_server: tuple[Inbox, int], settings: Settings, clock: FixedClock, tmp_path: Path
) -> None:
    inbox, port = smtp_server
    with_smtp = settings.model_copy(
        update={"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_starttls": False}
    )
    app = create_app(with_smtp, clock)
    async with app.router.lifespan_context(app):
        owner = await instance_owner(app, app.state.container)
        async with make_client(app) as anonymous:
            response = await anonymous.post(
                "/api/v1/auth/password-reset", json={"email": owner.email}
            )
            assert response.status_code == 202
        await owner.close()
        await wait_for_mail(inbox)
        recipients, mail = inbox.messages[-1]
        assert recipients == [owner.email]
        assert mail["Subject"] == "Reset your Parlour password"
        body = mail.get_payload(decode=True)
        assert isinstance(body, bytes)
        assert b"/reset/confirm?token=" in body
        assert PASSWORD.encode() not in body


async def test_the_outbox_is_used_only_without_smtp(settings: Settings) -> None:
    assert settings.dev_outbox
    assert not settings.model_copy(update={"smtp_host": "mail.example.org"}).dev_outbox


@pytest.mark.promise("P-ACC-3")
async def test_unreachable_smtp_does_not_lose_the_reset(
    settings: Settings, clock: FixedClock
) -> None:
    port = free_port()  # nothing listens there
    broken = settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": port})
    app = create_app(broken, clock)
    async with app.router.lifespan_context(app):
        owner = await instance_owner(app, app.state.container)
        async with make_client(app) as anonymous:
            response = await anonymous.post(
                "/api/v1/auth/password-reset", json={"email": owner.email}
            )
        await owner.close()
        assert response.status_code == 202
        container = app.state.container
        for _ in range(200):
            [mail] = [m for m in await container.mailer.recent() if m.to_addr == owner.email]
            if mail.attempts:
                break
            await container.mailer.deliver_due()
            await asyncio.sleep(0.05)
        assert mail.status == "pending" and mail.attempts == 1
        assert mail.next_attempt_at > clock.now() + timedelta(minutes=1)
        assert "/reset/confirm?token=" in mail.body  # kept until it can be delivered
