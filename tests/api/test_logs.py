"""Logs keep no secrets, no content and only truncated client addresses (P-SEC-1).

Real requests run through the app while the logging set-up `parlour serve` uses (our JSON
formatter on the root logger) writes into a buffer, at DEBUG so that libraries talk too.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from parlour.container import Container
from parlour.logs import JsonFormatter, configure_logging
from parlour.mail.models import OutboxMail
from tests.support.world import (
    PASSWORD,
    direct,
    instance_owner,
    invite,
    join,
    say,
    secret_of,
    token_for,
)

CLIENT_V4 = "203.0.113.57"
CLIENT_V6 = "2001:db8:85a3:8d3:1319:8a2e:370:7348"
NEW_PASSWORD = "a fresh and different passphrase"
WRONG_PASSWORD = "not the password at all"
MARKER = "canary-7f3e9b2d-message-content"


@pytest.fixture
def log_buffer() -> Iterator[io.StringIO]:
    """The production logging set-up, writing into a buffer; the old set-up comes back after."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    levels = {name: logging.getLogger(name).level for name in ("aiosqlite", "sqlalchemy")}
    access = logging.getLogger("uvicorn.access")
    saved_access = (access.disabled, access.propagate)
    buffer = io.StringIO()
    configure_logging("DEBUG", as_json=True)
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(buffer)
    try:
        yield buffer
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        for name, value in levels.items():
            logging.getLogger(name).setLevel(value)
        access.disabled, access.propagate = saved_access


def client_at(app: FastAPI, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 50123))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def mailed_secret(container: Container, to: str, name: str) -> str:
    """The secret of the one link of that name mailed to this address."""
    async with container.db.transaction() as uow:
        bodies = await uow.session.scalars(select(OutboxMail.body).where(OutboxMail.to_addr == to))
        links = [w for body in bodies for w in body.split() if f"?{name}=" in w]
    assert len(links) == 1, links
    return secret_of(links[0], name)


async def a_day_of_use(app: FastAPI, container: Container) -> list[str]:
    """Sign-up, sign-in (also from IPv6), a message, a reset: returns every secret it saw."""
    owner = await instance_owner(app, container)
    link = await invite(owner, email="pat@example.org")
    invitation = secret_of(link, "invitation")
    pat = await join(app, link, email="pat@example.org")
    session_cookie = pat.http.cookies["parlour_session"]
    csrf = pat.http.headers["X-CSRF-Token"]
    token = await token_for(pat)
    conversation = await direct(pat, owner)
    await say(pat, conversation, f"meet me at the usual place {MARKER}")

    async with client_at(app, CLIENT_V6) as v6:
        wrong = {"email": pat.email, "password": WRONG_PASSWORD}
        assert (await v6.post("/api/v1/auth/signin", json=wrong)).status_code == 401
        right = {"email": pat.email, "password": PASSWORD}
        assert (await v6.post("/api/v1/auth/signin", json=right)).status_code == 200
        v6_cookie = v6.cookies["parlour_session"]
        sent = await v6.post("/api/v1/auth/password-reset", json={"email": pat.email})
        assert sent.status_code == 202
        reset = await mailed_secret(container, pat.email, "token")
        confirm = {"token": reset, "new_password": NEW_PASSWORD}
        done = await v6.post("/api/v1/auth/password-reset/confirm", json=confirm)
        assert done.status_code == 204
    headers = {"Authorization": f"Bearer {token}"}
    async with client_at(app, CLIENT_V4) as api:
        # The token died with the reset: the refusal is logged too, without the token.
        assert (await api.get("/api/v1/me", headers=headers)).status_code == 401
    await pat.close()
    await owner.close()
    return [invitation, session_cookie, csrf, token, v6_cookie, reset]


def entries(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


@pytest.mark.promise("P-SEC-1")
@pytest.mark.promise("P-ACC-3")
async def test_real_requests_leave_no_password_secret_or_content_in_the_logs(
    app: FastAPI, container: Container, log_buffer: io.StringIO
) -> None:
    secrets = await a_day_of_use(app, container)
    text = log_buffer.getvalue()
    events = {e.get("event") for e in entries(log_buffer)}
    # The capture really saw the traffic, so the absences below mean something.
    assert {"http.request", "auth.signin", "auth.signin_failed", "auth.reset_done"} <= events
    for secret in (PASSWORD, NEW_PASSWORD, WRONG_PASSWORD, *secrets):
        assert secret not in text
    assert MARKER not in text
    assert "$argon2" not in text


@pytest.mark.promise("P-SEC-1")
async def test_client_addresses_in_the_logs_are_truncated(
    app: FastAPI, container: Container, log_buffer: io.StringIO
) -> None:
    await a_day_of_use(app, container)
    text = log_buffer.getvalue()
    assert CLIENT_V4 not in text and CLIENT_V6 not in text
    assert "2001:db8:85a3:8d3" not in text
    clients = {e["client"] for e in entries(log_buffer) if e.get("event") == "http.request"}
    assert clients == {"203.0.113.0", "2001:db8:85a3::"}


def record(name: str, message: str, **extra: Any) -> logging.LogRecord:
    made = logging.makeLogRecord({"name": name, "levelname": "INFO", "msg": message})
    for key, value in extra.items():
        setattr(made, key, value)
    return made


def formatted(made: logging.LogRecord) -> dict[str, Any]:
    entry: dict[str, Any] = json.loads(JsonFormatter().format(made))
    return entry


@pytest.mark.parametrize(
    "bound",
    ["http://127.0.0.1:8080", "http://0.0.0.0:8080", "http://[::1]:8080", "http://[::]:8080"],
)
def test_the_startup_line_keeps_the_address_the_server_listens_on(bound: str) -> None:
    line = f"Uvicorn running on {bound} (Press CTRL+C to quit)"
    colour = f"Uvicorn running on \x1b[1m{bound}\x1b[0m (Press CTRL+C to quit)"
    entry = formatted(record("uvicorn.error", line, color_message=colour))
    assert entry["message"] == line
    assert "color_message" not in entry


@pytest.mark.promise("P-SEC-1")
def test_client_addresses_in_free_text_are_truncated_wherever_they_appear() -> None:
    entry = formatted(
        record(
            "uvicorn.error",
            f"('{CLIENT_V4}', 50123) - connection from [{CLIENT_V6}]:443 and ::ffff:198.51.100.7",
            peer=f"{CLIENT_V4}:50123",
        )
    )
    assert CLIENT_V4 not in json.dumps(entry) and CLIENT_V6 not in entry["message"]
    assert "203.0.113.0" in entry["message"] and "2001:db8:85a3::" in entry["message"]
    assert "198.51.100.7" not in entry["message"] and "198.51.100.0" in entry["message"]
    assert entry["peer"] == "203.0.113.0:50123"
    # Things that merely look like addresses are left alone.
    assert formatted(record("x", "at 09:00:00, v1.2.3.4.5"))["message"] == "at 09:00:00, v1.2.3.4.5"


@pytest.mark.promise("P-SEC-1")
def test_extras_named_like_secrets_or_content_are_hidden() -> None:
    entry = formatted(record("x", "m", password=PASSWORD, body=MARKER, session_cookie="abc"))
    assert entry["password"] == entry["body"] == entry["session_cookie"] == "[hidden]"
