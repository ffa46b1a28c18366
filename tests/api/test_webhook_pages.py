"""The webhooks page over HTTP: the same service calls as the API, refusals as messages."""

from __future__ import annotations

from html import unescape

import pytest
from fastapi import FastAPI

from parlour.container import Container
from parlour.settings import Settings
from tests.api.test_pages import page, signed_in_browser, submit
from tests.support.html import parse_html
from tests.support.world import instance_owner, member

PAGE = "/org/webhooks"
PUBLIC = "http://93.184.215.14/hook"  # a public address literal: no lookup, never contacted


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"worker_in_process": False, "webhook_allow_http": True})


@pytest.mark.promise("P-API-1")
async def test_an_owner_subscribes_sees_the_secret_once_and_manages_the_endpoint(
    app: FastAPI, container: Container
) -> None:
    owner = await instance_owner(app, container)
    http = await signed_in_browser(app, owner.email)
    assert PAGE in (await page(http, "/org")).links
    empty = await page(http, PAGE)
    assert empty.unlabelled() == [] and "url" in [f.get("name") for f in empty.fields]

    refused = await submit(
        http, PAGE, {"url": "http://127.0.0.1:9/", "event_types": "message.created"}
    )
    assert refused.status_code == 422
    assert "Webhooks cannot be sent to this address" in unescape(refused.text)
    none_chosen = await submit(http, PAGE, {"url": PUBLIC})
    assert none_chosen.status_code == 422 and 'id="f-event_types"' in none_chosen.text

    parsed = await page(http, PAGE)
    made = await http.post(
        PAGE,
        data={
            "csrf_token": parsed.csrf,
            "url": PUBLIC,
            "event_types": ["message.created", "member.joined"],
            "scopes": ["messages:read"],
        },
    )
    assert made.status_code == 201, made.text[:500]
    secret = next(f["value"] for f in page_fields(made.text) if f.get("id") == "secret")
    assert secret.startswith("whsec_")
    again = await http.get(PAGE)
    assert secret not in again.text and PUBLIC in again.text and "Active" in again.text
    [hook] = (await owner.http.get(f"/api/v1/orgs/{owner.org_id}/webhooks")).json()
    assert hook["event_types"] == ["member.joined", "message.created"]
    assert hook["scopes"] == ["messages:read"]

    paused = await submit(http, f"{PAGE}/{hook['id']}/state", {"state": "paused"}, token_from=PAGE)
    assert paused.status_code == 303 and "paused" in paused.headers["location"]
    assert "Paused" in (await http.get(PAGE)).text
    rotated = await submit(http, f"{PAGE}/{hook['id']}/rotate", {}, token_from=PAGE)
    assert rotated.status_code == 201 and "keeps signing until" in rotated.text
    log = await http.get(f"{PAGE}/{hook['id']}")
    assert log.status_code == 200 and "Nothing has been sent" in log.text
    gone = await submit(http, f"{PAGE}/{hook['id']}/delete", {}, token_from=PAGE)
    assert gone.status_code == 303 and "No webhooks yet" in (await http.get(PAGE)).text
    await http.aclose()
    await owner.close()


async def test_a_member_who_is_not_an_admin_cannot_open_the_page(
    app: FastAPI, container: Container
) -> None:
    owner = await instance_owner(app, container)
    pat = await member(app, owner)
    http = await signed_in_browser(app, pat.email)
    assert (await http.get(PAGE)).status_code == 403
    await http.aclose()
    await owner.close()
    await pat.close()


def page_fields(html: str) -> list[dict[str, str]]:
    return parse_html(html).fields
