"""The "Your data" page: a download and an account deletion, each behind the password, from a
browser form (the same services as the JSON API)."""

from __future__ import annotations

import io
import zipfile
from html import unescape

import pytest
from fastapi import FastAPI

from parlour.container import Container
from parlour.settings import Settings
from tests.api.test_pages import page, submit
from tests.conftest import make_client
from tests.support.world import PASSWORD, instance_owner, member

PAGE = "/privacy/data"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Jobs run when the test says so, not in the background."""
    return settings.model_copy(update={"worker_in_process": False})


@pytest.mark.promise("P-RIGHTS-1", "P-ACC-5")
async def test_the_page_prepares_a_download_after_the_password(
    app: FastAPI, container: Container
) -> None:
    owner = await instance_owner(app, container)
    shown = await page(owner.http, PAGE)
    assert not shown.unlabelled()
    assert shown.field("export_password")["type"] == "password"

    wrong = await submit(
        owner.http, PAGE + "/export", {"export_password": "not my password"}, token_from=PAGE
    )
    assert wrong.status_code == 401
    assert "Wrong password." in wrong.text and 'id="f-export_password-error"' in wrong.text
    assert (await owner.http.get("/api/v1/me/exports")).json() == []

    asked = await submit(
        owner.http, PAGE + "/export", {"export_password": PASSWORD}, token_from=PAGE
    )
    assert asked.status_code == 303
    assert asked.headers["location"] == PAGE + "?notice=export-requested"
    notice = await owner.http.get(asked.headers["location"])
    assert "We will email you when it is ready." in notice.text
    assert "Being prepared" in notice.text
    assert await container.jobs.run_due() >= 1

    ready = await owner.http.get(PAGE)
    (export,) = (await owner.http.get("/api/v1/me/exports")).json()
    assert export["state"] == "ready"
    assert f'href="{export["download_url"]}"' in ready.text
    download = await owner.http.get(export["download_url"])
    assert download.status_code == 200
    assert "manifest.json" in zipfile.ZipFile(io.BytesIO(download.content)).namelist()


@pytest.mark.promise("P-RIGHTS-4", "P-ACC-5")
async def test_deleting_needs_the_password_and_the_word_then_signs_out_everywhere(
    app: FastAPI, container: Container
) -> None:
    owner = await instance_owner(app, container)
    pat = await member(app, owner)
    path = PAGE + "/delete"

    no_word = await submit(
        pat.http, path, {"delete_password": PASSWORD, "confirm": "yes"}, token_from=PAGE
    )
    assert no_word.status_code == 422 and 'Type the word "delete".' in unescape(no_word.text)
    wrong = await submit(
        pat.http, path, {"delete_password": "guess", "confirm": "delete"}, token_from=PAGE
    )
    assert wrong.status_code == 401 and "Wrong password." in wrong.text
    assert (await pat.http.get("/api/v1/me")).status_code == 200, "nothing happened yet"

    done = await submit(
        pat.http, path, {"delete_password": PASSWORD, "confirm": " Delete "}, token_from=PAGE
    )
    assert done.status_code == 200
    assert "Your account is closed" in done.text
    assert 'href="/profile"' not in done.text, "the page no longer shows an account menu"
    assert 'parlour_session=""' in done.headers["set-cookie"]
    assert (await pat.http.get("/api/v1/me")).status_code == 401
    async with make_client(app) as other:
        signin = await other.post(
            "/api/v1/auth/signin", json={"email": pat.email, "password": PASSWORD}
        )
        assert signin.status_code in (401, 403)


@pytest.mark.promise("P-RIGHTS-4")
async def test_the_last_owner_is_told_why_the_account_cannot_go(
    app: FastAPI, container: Container
) -> None:
    owner = await instance_owner(app, container)
    refused = await submit(
        owner.http,
        PAGE + "/delete",
        {"delete_password": PASSWORD, "confirm": "delete"},
        token_from=PAGE,
    )
    assert refused.status_code == 409
    assert "make someone else an owner first" in refused.text
    assert (await owner.http.get("/api/v1/me")).status_code == 200


@pytest.mark.promise("P-SEC-3", "P-RIGHTS-2")
async def test_the_page_keeps_working_when_strangers_lock_sign_in_and_signs_out_a_guesser(
    app: FastAPI, container: Container, settings: Settings
) -> None:
    owner = await instance_owner(app, container)
    pat = await member(app, owner)
    async with make_client(app) as stranger:
        for _ in range(settings.signin_max_failures_per_account + 1):
            await stranger.post("/api/v1/auth/signin", json={"email": pat.email, "password": "x"})
    path = PAGE + "/export"
    asked = await submit(pat.http, path, {"export_password": PASSWORD}, token_from=PAGE)
    assert asked.status_code == 303, asked.text[:500]
    assert asked.headers["location"] == PAGE + "?notice=export-requested"

    for left in (4, 3, 2, 1):
        wrong = await submit(pat.http, path, {"export_password": "guess"}, token_from=PAGE)
        assert wrong.status_code == 401 and f"{left} more wrong" in wrong.text
    ended = await submit(pat.http, path, {"export_password": "guess"}, token_from=PAGE)
    assert ended.status_code == 303
    assert ended.headers["location"] == "/signin?notice=wrong-passwords"
    assert "parlour_session" not in pat.http.cookies
    shown = await pat.http.get(ended.headers["location"])
    assert "wrong too many times" in shown.text
    assert (await pat.http.get("/api/v1/me")).status_code == 401
