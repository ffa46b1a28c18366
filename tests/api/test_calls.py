"""Calls through the public API and the stream: ringing on every device, answering on one,
signalling between legs only, and the call detail record."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import timedelta

import pytest
import websockets
from fastapi import FastAPI
from sqlalchemy import select

from parlour.container import Container
from parlour.core.clock import FixedClock
from parlour.features.calls.models import Participant, Quality
from parlour.features.calls.service import GuestPass
from parlour.settings import Settings
from tests.conftest import make_client
from tests.support.live import StreamClient, serving, stream
from tests.support.world import Person, direct, instance_owner, member, second_org, token_for

CHROME = {
    "endpoint_version": "web 0.1.0",
    "device": "desktop",
    "os": "Linux",
    "browser": "Chrome 156",
    "language": "en-GB",
}


async def start_call(a: Person, cid: str, device: str, media: str = "video") -> dict[str, object]:
    response = await a.http.post(
        "/api/v1/calls",
        json={"conversation_id": cid, "media": media, "device_id": device, "client": CHROME},
    )
    assert response.status_code == 201, response.text
    call: dict[str, object] = response.json()
    return call


async def accept(b: Person, call_id: object, device: str) -> dict[str, object]:
    response = await b.http.post(
        f"/api/v1/calls/{call_id}/accept", json={"device_id": device, "client": CHROME}
    )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def two(app: FastAPI, container: Container) -> tuple[Person, Person, str]:
    a = await instance_owner(app, container)
    b = await member(app, a)
    return a, b, await direct(a, b)


@pytest.mark.promise("P-CALL-2")
async def test_a_call_rings_everywhere_is_answered_once_and_leaves_a_full_record(
    app: FastAPI, container: Container, clock: FixedClock
) -> None:
    a, b, cid = await two(app, container)
    a_token, b_token = await token_for(a), await token_for(b)
    async with (
        serving(app) as address,
        stream(address, a_token) as caller,
        stream(address, b_token) as phone,
        stream(address, b_token) as laptop,
    ):
        call = await start_call(a, cid, caller.device_id)
        for device in (phone, laptop):
            ring = await device.until("call.incoming")
            assert ring["data"]["call_id"] == call["id"]
            assert ring["data"]["media"] == "video"
        await accept(b, call["id"], laptop.device_id)
        assert (await phone.until("call.answered_elsewhere"))["data"]["by"] == b.id
        assert (await caller.until("call.accepted"))["data"]["by"] == b.id
        await laptop.nothing_more("call.answered_elsewhere")

        await caller.send(
            {
                "type": "call.signal",
                "call_id": call["id"],
                "to": b.id,
                "kind": "offer",
                "payload": {"sdp": "v=0 offer"},
            }
        )
        offer = await laptop.until("call.signal")
        assert offer["data"]["payload"] == {"sdp": "v=0 offer"}
        assert offer["data"]["from"] == a.id
        await phone.nothing_more("call.signal")
        await laptop.send(
            {
                "type": "call.signal",
                "call_id": call["id"],
                "to": a.id,
                "kind": "answer",
                "payload": {"sdp": "v=0 answer"},
            }
        )
        assert (await caller.until("call.signal"))["data"]["kind"] == "answer"

        for person in (a, b):
            assert (await person.http.post(f"/api/v1/calls/{call['id']}/connected")).is_success
        await caller.until("call.connected")
        clock.advance(timedelta(seconds=42))
        ended = (await b.http.post(f"/api/v1/calls/{call['id']}/hangup", json={})).json()
        assert ended["state"] == "ended" and ended["outcome"] == "completed"
        assert ended["duration_seconds"] == 42
        assert (await caller.until("call.ended"))["data"]["outcome"] == "completed"
        entry = await caller.until("call.ended")
        assert entry["conversation_id"] == cid and entry["id"] > 0, "a durable chat entry"

    async with container.db.transaction() as uow:
        parts = {p.user_id: p for p in await uow.session.scalars(select(Participant))}
    assert set(parts) == {a.id, b.id}
    callee = parts[b.id]
    assert callee.user_name == b.email and callee.display_name
    assert callee.ip_address == "203.0.113.57"
    assert (callee.browser, callee.os, callee.language) == ("Chrome 156", "Linux", "en-GB")
    assert callee.endpoint_type == "web" and callee.endpoint_version == "web 0.1.0"
    assert callee.disconnect == "hangup" and parts[a.id].disconnect == "ended"
    assert callee.joined_at is not None and callee.left_at is not None


@pytest.mark.promise("P-ANA-2")
async def test_quality_is_stored_under_a_pseudonym(app: FastAPI, container: Container) -> None:
    a, b, cid = await two(app, container)
    call = await start_call(a, cid, "a" * 32)
    await accept(b, call["id"], "b" * 32)
    report = {
        "packet_loss_pct": 0.4,
        "jitter_ms": 3.5,
        "round_trip_ms": 21.0,
        "bitrate_kbps": 1450.0,
        "frames_decoded": 1200,
    }
    response = await b.http.post(f"/api/v1/calls/{call['id']}/quality", json=report)
    assert response.status_code == 204
    bad = await b.http.post(f"/api/v1/calls/{call['id']}/quality", json={"jitter_ms": -1})
    assert bad.status_code == 422 and bad.json()["code"] == "validation_failed"
    async with container.db.transaction() as uow:
        rows = list(await uow.session.scalars(select(Quality)))
    assert len(rows) == 1 and rows[0].frames_decoded == 1200
    assert b.id not in rows[0].pseudonym and rows[0].pseudonym != b.id


@pytest.mark.parametrize("how", ["decline", "timeout", "cancel"])
async def test_unanswered_calls_end_in_the_right_state_and_show_in_the_chat(
    app: FastAPI, container: Container, clock: FixedClock, how: str
) -> None:
    a, b, cid = await two(app, container)
    async with serving(app) as address, stream(address, await token_for(b)) as bob:
        call = await start_call(a, cid, "a" * 32)
        await bob.until("call.incoming")
        if how == "decline":
            await b.http.post(f"/api/v1/calls/{call['id']}/decline")
        elif how == "cancel":
            await a.http.post(f"/api/v1/calls/{call['id']}/hangup", json={})
        else:
            clock.advance(timedelta(seconds=44))
            assert await container.calls.expire_due() == 0, "still ringing before the limit"
            clock.advance(timedelta(seconds=2))
            await container.calls.expire_due()
        expected = {"decline": "declined", "timeout": "missed", "cancel": "cancelled"}[how]
        entry = await bob.until("call.ended")
        while "id" not in entry:
            entry = await bob.until("call.ended")
        assert entry["data"]["outcome"] == expected
    record = (await a.http.get(f"/api/v1/calls/{call['id']}")).json()
    assert record["outcome"] == expected and record["duration_seconds"] == 0
    history = (await b.http.get("/api/v1/calls", params={"conversation_id": cid})).json()
    assert [c["id"] for c in history] == [call["id"]]


async def test_a_busy_callee_ends_the_call_as_busy(app: FastAPI, container: Container) -> None:
    a = await instance_owner(app, container)
    b, c = await member(app, a), await member(app, a)
    first = await start_call(b, await direct(b, c), "b" * 32)
    assert first["state"] == "ringing"
    second = await start_call(a, await direct(a, b), "a" * 32)
    assert second["state"] == "ended" and second["outcome"] == "busy"


@pytest.mark.promise("P-MSG-6")
async def test_a_blocked_caller_learns_only_not_delivered(
    app: FastAPI, container: Container
) -> None:
    a, b, cid = await two(app, container)
    assert (await b.http.put(f"/api/v1/me/blocks/{a.id}")).status_code == 204
    async with serving(app) as address, stream(address, await token_for(b)) as bob:
        response = await a.http.post(
            "/api/v1/calls", json={"conversation_id": cid, "device_id": "a" * 32}
        )
        assert response.status_code == 403
        assert response.json()["code"] == "not_delivered"
        assert "block" not in response.text.lower()
        await bob.nothing_more("call.incoming")


async def test_signalling_passes_only_between_active_legs(
    app: FastAPI, container: Container
) -> None:
    a, b, cid = await two(app, container)
    c = await member(app, a)
    async with (
        serving(app) as address,
        stream(address, await token_for(a)) as alice,
        stream(address, await token_for(b)) as bob,
        stream(address, await token_for(c)) as carol,
    ):
        call = await start_call(a, cid, alice.device_id)
        frame = {"type": "call.signal", "call_id": call["id"], "to": b.id, "kind": "offer"}
        await alice.send(frame)
        error = await alice.until("error")
        assert error["code"] == "call_state_conflict", "bob has not answered yet"
        await carol.send({**frame, "to": a.id})
        assert (await carol.until("error"))["code"] == "not_found"
        await bob.send({**frame, "kind": "nonsense"})
        wrong_kind = await bob.until("error")
        assert wrong_kind["code"] == "validation_failed"
        assert wrong_kind["detail"].startswith("kind: Choose one of 'offer'")
        await bob.send('{"type": "call.signal", "call_id": ')
        broken = await bob.until("error")
        assert broken["code"] == "validation_failed"
        assert broken["detail"] == "The frame is not valid JSON."
        await bob.nothing_more("call.signal")
        await bob.send({"type": "ping"})
        assert (await bob.until("pong"))["type"] == "pong", "the connection survives"


async def test_a_call_larger_than_the_mesh_limit_is_refused_clearly(
    app: FastAPI, container: Container
) -> None:
    a = await instance_owner(app, container)
    others = [await member(app, a) for _ in range(4)]
    group = await a.http.post(
        "/api/v1/conversations",
        json={"kind": "group", "name": "Five", "member_ids": [p.id for p in others]},
    )
    response = await a.http.post(
        "/api/v1/calls", json={"conversation_id": group.json()["id"], "device_id": "a" * 32}
    )
    assert response.status_code == 409
    assert response.json()["code"] == "call_too_large"
    assert "SFU" in response.json()["detail"]


@pytest.mark.promise("P-ADM-3")
async def test_another_organisation_cannot_see_a_call(app: FastAPI, container: Container) -> None:
    a, _b, cid = await two(app, container)
    call = await start_call(a, cid, "a" * 32)
    outsider = await second_org(app, a)
    for path in ("", "/accept", "/decline", "/hangup", "/connected"):
        method = outsider.http.get if path == "" else outsider.http.post
        kwargs = {} if path == "" else {"json": {"device_id": "c" * 32}}
        response = await method(f"/api/v1/calls/{call['id']}{path}", **kwargs)  # type: ignore[operator]
        assert response.status_code in (404, 422), (path, response.text)
        if response.status_code == 422:
            continue
        assert response.json()["code"] == "not_found"


async def test_turn_credentials_are_minted_per_user_and_expire(
    tmp_path: object, database_url: str, clock: FixedClock
) -> None:
    from parlour.app import create_app

    settings = Settings(
        data_dir=tmp_path,  # type: ignore[arg-type]
        database_url=database_url,
        secret_key="test-secret-key-that-is-long-enough-0123456789",
        password_time_cost=1,
        password_memory_cost=1024,
        ice_stun_urls=["stun:stun.example.org:3478"],
        ice_turn_urls=["turn:turn.example.org:3478?transport=udp"],
        turn_secret="coturn-shared-secret",
        turn_credential_seconds=600,
    )
    app = create_app(settings, clock)
    async with app.router.lifespan_context(app):
        a = await instance_owner(app, app.state.container)
        body = (await a.http.get("/api/v1/calls/ice")).json()
    stun, turn = body["ice_servers"]
    assert stun == {"urls": ["stun:stun.example.org:3478"], "username": None, "credential": None}
    expiry, user = turn["username"].split(":")
    assert user == a.id and int(expiry) == int(clock.now().timestamp()) + 600
    digest = hmac.new(b"coturn-shared-secret", turn["username"].encode(), hashlib.sha1).digest()
    assert turn["credential"] == base64.b64encode(digest).decode()
    assert body["mesh_limit"] == 4
    guest = GuestPass(guest_id="g" * 32, call_id="c" * 32, org_id=a.org_id)
    (_, guest_turn) = app.state.container.calls.ice_servers(guest)
    assert guest_turn["username"].endswith(":guest-" + "g" * 32), "a guest's own credential"


@pytest.mark.promise("P-ACC-7")
async def test_a_guest_joins_by_link_with_a_name_only_and_only_for_that_call(
    app: FastAPI, container: Container
) -> None:
    a, b, cid = await two(app, container)
    outsider = await member(app, a)
    async with (
        serving(app) as address,
        stream(address, await token_for(a)) as alice,
        stream(address, await token_for(b)) as bob,
    ):
        call = await start_call(a, cid, alice.device_id)
        early = await b.http.post(f"/api/v1/calls/{call['id']}/guest-links")
        assert early.status_code == 409, "bob has not answered yet"
        await accept(b, call["id"], bob.device_id)
        assert (
            await outsider.http.post(f"/api/v1/calls/{call['id']}/guest-links")
        ).status_code == 404
        link = await a.http.post(f"/api/v1/calls/{call['id']}/guest-links")
        assert link.status_code == 201, link.text
        token = link.json()["url"].rsplit("/", 1)[1]

        async with make_client(app) as visitor:
            wrong = await visitor.post(
                "/api/v1/guest/join", json={"token": "x" * 30, "display_name": "Vi"}
            )
            assert wrong.status_code == 400 and wrong.json()["code"] == "token_invalid"
            joined = await visitor.post(
                "/api/v1/guest/join", json={"token": token, "display_name": " Visitor "}
            )
            assert joined.status_code == 200, joined.text
            guest = joined.json()
            cookie = visitor.cookies.get("parlour_guest")
            assert cookie
            ice = await visitor.get("/api/v1/guest/call/ice")
            assert ice.status_code == 200 and ice.json()["mesh_limit"] == 4, ice.text
            headers = {"Cookie": f"parlour_guest={cookie}", "Origin": f"http://{address}"}
            async with websockets.connect(
                f"ws://{address}/api/v1/guest/stream", additional_headers=headers
            ) as ws:
                live = StreamClient(ws)
                await live.until("ready")
                refused = await visitor.post(
                    "/api/v1/guest/call/accept", json={"device_id": live.device_id}
                )
                assert refused.status_code == 403 and refused.json()["code"] == "csrf_failed"
                accepted = await visitor.post(
                    "/api/v1/guest/call/accept",
                    json={"device_id": live.device_id},
                    headers={"X-CSRF-Token": guest["csrf_token"]},
                )
                assert accepted.status_code == 200, accepted.text
                joined_notice = await alice.until("call.joined")
                assert joined_notice["data"]["by"] == guest["key"]
                await alice.send(
                    {
                        "type": "call.signal",
                        "call_id": call["id"],
                        "to": guest["key"],
                        "kind": "offer",
                        "payload": {"sdp": "for the guest"},
                    }
                )
                offer = await live.until("call.signal")
                assert offer["data"]["payload"] == {"sdp": "for the guest"}
                await live.send({"type": "typing", "conversation_id": cid})
                assert (await live.until("error"))["code"] == "validation_failed"

            for person in (a, b):
                await person.http.post(f"/api/v1/calls/{call['id']}/hangup", json={})
            await visitor.post(
                "/api/v1/guest/call/hangup",
                json={},
                headers={"X-CSRF-Token": guest["csrf_token"]},
            )
            after = await visitor.get("/api/v1/guest/call")
            assert after.status_code == 401, "the pass ends with the call"
            other = await visitor.get(f"/api/v1/calls/{call['id']}")
            assert other.status_code == 401, "a guest is no member"

    record = (await a.http.get(f"/api/v1/calls/{call['id']}")).json()
    assert record["state"] == "ended"
    async with container.db.transaction() as uow:
        row = await uow.session.scalar(select(Participant).where(Participant.role == "guest"))
    assert row is not None
    assert (row.display_name, row.user_id, row.user_name) == ("Visitor", None, None)
    assert row.joined_at is not None and row.left_at is not None


@pytest.mark.promise("P-ANA-2")
@pytest.mark.promise("P-RIGHTS-5")
async def test_an_objection_to_quality_measurement_stops_it_at_once(
    app: FastAPI, container: Container
) -> None:
    a, b, cid = await two(app, container)
    call = await start_call(a, cid, "a" * 32)
    await accept(b, call["id"], "b" * 32)
    objected = await b.http.post(
        "/api/v1/me/consents",
        json={"changes": [{"purpose": "service_quality", "action": "object"}]},
    )
    assert objected.status_code == 200, objected.text
    for person in (a, b):
        sent = await person.http.post(
            f"/api/v1/calls/{call['id']}/quality", json={"jitter_ms": 2.0, "frames_decoded": 9}
        )
        assert sent.status_code == 204
    async with container.db.transaction() as uow:
        rows = list(await uow.session.scalars(select(Quality)))
    assert len(rows) == 1, "only the participant who did not object is measured"
    outsider = await second_org(app, a)
    foreign = await outsider.http.post(f"/api/v1/calls/{call['id']}/quality", json={})
    assert foreign.status_code == 404
