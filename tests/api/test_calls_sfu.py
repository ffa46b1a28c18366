"""A call larger than the mesh goes through the SFU (a real Janus): media published by one
participant reaches another through Parlour's API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import VideoStreamTrack
from fastapi import FastAPI

from parlour.app import create_app
from parlour.container import Container
from parlour.core.clock import FixedClock
from parlour.settings import Settings
from tests.contracts.test_sfu import frames_received
from tests.support.janus import janus
from tests.support.live import serving, stream
from tests.support.world import instance_owner, member, token_for


@pytest.fixture
async def sfu_app(tmp_path: Path, database_url: str, clock: FixedClock) -> AsyncIterator[FastAPI]:
    with janus(tmp_path / "janus") as url:
        settings = Settings(
            data_dir=tmp_path / "data",
            database_url=database_url,
            secret_key="test-secret-key-that-is-long-enough-0123456789",
            password_time_cost=1,
            password_memory_cost=1024,
            call_mesh_limit=2,
            sfu_url=url,
        )
        app = create_app(settings, clock)
        async with app.router.lifespan_context(app):
            yield app


@pytest.mark.promise("P-CALL-1")
async def test_a_group_call_beyond_the_mesh_runs_through_the_sfu(sfu_app: FastAPI) -> None:
    container: Container = sfu_app.state.container
    a = await instance_owner(sfu_app, container)
    b, c = await member(sfu_app, a), await member(sfu_app, a)
    group = await a.http.post(
        "/api/v1/conversations",
        json={"kind": "group", "name": "Three", "member_ids": [b.id, c.id]},
    )
    cid = group.json()["id"]
    async with serving(sfu_app) as address, stream(address, await token_for(b)) as bob:
        call = (
            await a.http.post("/api/v1/calls", json={"conversation_id": cid, "device_id": "a" * 32})
        ).json()
        assert call["mode"] == "sfu"
        for person, device in ((b, bob.device_id), (c, "c" * 32)):
            answered = await person.http.post(
                f"/api/v1/calls/{call['id']}/accept", json={"device_id": device}
            )
            assert answered.status_code == 200, answered.text

        camera = RTCPeerConnection()
        camera.addTrack(VideoStreamTrack())
        await camera.setLocalDescription(await camera.createOffer())
        published = await a.http.post(
            f"/api/v1/calls/{call['id']}/sfu/publish", json={"sdp": camera.localDescription.sdp}
        )
        assert published.status_code == 200, published.text
        await camera.setRemoteDescription(RTCSessionDescription(published.json()["sdp"], "answer"))
        notice = await bob.until("call.feed")
        assert notice["data"]["participant"] == a.id
        feed = notice["data"]["feed"]

        for _ in range(100):
            feeds = (await b.http.get(f"/api/v1/calls/{call['id']}/sfu/feeds")).json()
            if feeds:
                break
            await asyncio.sleep(0.1)
        assert feeds == [{"participant": a.id, "feed": feed}]

        screen = RTCPeerConnection()
        offer = (
            await b.http.post(f"/api/v1/calls/{call['id']}/sfu/subscribe", json={"feed": feed})
        ).json()
        counting = asyncio.ensure_future(frames_received(screen, 10))
        await screen.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
        await screen.setLocalDescription(await screen.createAnswer())
        stolen = await c.http.post(
            f"/api/v1/calls/{call['id']}/sfu/answer",
            json={"handle": offer["handle"], "sdp": screen.localDescription.sdp},
        )
        assert stolen.status_code == 404, "a handle answers only to its owner"
        answered = await b.http.post(
            f"/api/v1/calls/{call['id']}/sfu/answer",
            json={"handle": offer["handle"], "sdp": screen.localDescription.sdp},
        )
        assert answered.status_code == 204, answered.text
        try:
            assert await asyncio.wait_for(counting, 40) == 10
        finally:
            await screen.close()
            await camera.close()
        for person in (a, b):
            await person.http.post(f"/api/v1/calls/{call['id']}/connected")
        for person in (a, b, c):
            await person.http.post(f"/api/v1/calls/{call['id']}/hangup", json={})
    ended = (await a.http.get(f"/api/v1/calls/{call['id']}")).json()
    assert ended["state"] == "ended" and ended["outcome"] == "completed"


async def test_a_mesh_call_refuses_sfu_requests(sfu_app: FastAPI) -> None:
    container: Container = sfu_app.state.container
    a = await instance_owner(sfu_app, container)
    b = await member(sfu_app, a)
    direct = await a.http.post("/api/v1/conversations", json={"kind": "direct", "user_id": b.id})
    call = (
        await a.http.post(
            "/api/v1/calls", json={"conversation_id": direct.json()["id"], "device_id": "a" * 32}
        )
    ).json()
    assert call["mode"] == "mesh"
    response = await a.http.post(
        f"/api/v1/calls/{call['id']}/sfu/publish", json={"sdp": "v=0 " + "x" * 20}
    )
    assert response.status_code == 409 and response.json()["code"] == "call_state_conflict"
