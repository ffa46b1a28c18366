"""The chat page: for members only, and only for their own conversations."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from parlour.container import Container
from tests.support.world import direct, instance_owner, member, second_org

HTML = {"Accept": "text/html"}


async def test_signed_out_visitors_are_sent_to_sign_in(client: httpx.AsyncClient) -> None:
    response = await client.get("/chat/abc", headers=HTML)
    assert response.status_code == 303
    assert response.headers["location"] == "/signin?next=/chat/abc"


async def test_the_page_carries_the_actor_and_a_csrf_token(
    app: FastAPI, container: Container
) -> None:
    a = await instance_owner(app, container)
    b = await member(app, a)
    cid = await direct(a, b)
    response = await b.http.get(f"/chat/{cid}", headers=HTML)
    assert response.status_code == 200
    page = response.text
    assert f'data-user-id="{b.id}"' in page and f'data-conversation-id="{cid}"' in page
    assert 'name="csrf-token" content="' in page and "/static/chat.js" in page
    assert (await b.http.get("/chat", headers=HTML)).status_code == 200


async def test_a_conversation_of_others_is_not_found(app: FastAPI, container: Container) -> None:
    a = await instance_owner(app, container)
    b, c = await member(app, a), await member(app, a)
    outsider = await second_org(app, a)
    cid = await direct(a, b)
    for stranger in (c, outsider):
        response = await stranger.http.get(f"/chat/{cid}", headers=HTML)
        assert response.status_code == 404
        assert "Not found" in response.text
    assert (await c.http.get("/chat/no-such-id", headers=HTML)).status_code == 404
