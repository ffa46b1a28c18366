"""What a new visitor meets first: setup pending on a new instance, and the favicon."""

from __future__ import annotations

import re

import httpx
from fastapi import FastAPI

from parlour.container import Container
from tests.api.test_pages import browser
from tests.support.world import instance_owner

# -- a new instance says setup is pending ------------------------------------------------------


async def test_the_first_page_of_a_new_instance_says_how_to_finish_setup_without_the_link(
    app: FastAPI, container: Container
) -> None:
    http = browser(app)
    first = await http.get("/", follow_redirects=True)
    assert first.status_code == 200 and first.url.path == "/signin"
    assert "data-setup-pending" in first.text
    assert "setup link" in first.text and "parlour serve" in first.text
    assert "/setup?token=" not in first.text and "token=" not in first.text

    await instance_owner(app, container)
    after = await http.get("/signin")
    assert "data-setup-pending" not in after.text
    await http.aclose()


# -- the favicon -------------------------------------------------------------------------------


async def test_pages_link_a_favicon_and_favicon_ico_leads_to_it(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    signin = await client.get("/signin", headers={"accept": "text/html"})
    icon = re.search(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">', signin.text)
    assert icon
    svg = await client.get(icon.group(1))
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert svg.text.lstrip().startswith("<svg")

    ico = await client.get("/favicon.ico")
    assert ico.status_code == 301 and ico.headers["location"] == icon.group(1)
    assert (await client.get("/favicon.ico", follow_redirects=True)).status_code == 200
