"""Calls whose browsers are gone: a leg lives while its page's stream connection is open; one
unseen for the leg timeout is left with reason 'network', and nobody stays stuck in a call."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from parlour.container import Container
from parlour.core.clock import FixedClock
from parlour.features.calls.models import Participant
from parlour.settings import Settings
from tests.api.test_calls import accept, start_call, two
from tests.support.live import StreamClient, serving, stream
from tests.support.world import Person, direct, member, token_for


async def connected(people: tuple[Person, ...], call: dict[str, object]) -> None:
    for person in people:
        response = await person.http.post(f"/api/v1/calls/{call['id']}/connected")
        assert response.status_code == 200, response.text


async def legs(container: Container, call_id: object) -> dict[str | None, Participant]:
    async with container.db.transaction() as uow:
        rows = await uow.session.scalars(select(Participant).where(Participant.call_id == call_id))
        return {p.user_id: p for p in rows}


async def gone(watcher: StreamClient, person: Person) -> None:
    """Waits until the server has closed `person`'s stream (it says they went offline)."""
    while True:
        frame = await watcher.until("presence")
        if frame["data"] == {"user_id": person.id, "state": "offline"}:
            return


@pytest.mark.promise("P-CALL-2")
async def test_a_leg_whose_page_is_gone_is_left_and_the_call_ends_with_its_real_duration(
    app: FastAPI, container: Container, clock: FixedClock, settings: Settings
) -> None:
    timeout = timedelta(seconds=settings.call_leg_timeout_seconds)
    a, b, cid = await two(app, container)
    async with serving(app) as address, stream(address, await token_for(a)) as alice:
        async with stream(address, await token_for(b)) as bob:
            call = await start_call(a, cid, alice.device_id)
            await accept(b, call["id"], bob.device_id)
            await connected((a, b), call)
            began = clock.now()
            clock.advance(timedelta(seconds=12))
            assert await container.calls.expire_due() == 0, "both pages are there"
            last_seen = clock.now()
        await gone(alice, b)  # bob's tab was killed: no hang-up was ever sent

        clock.advance(timeout - timedelta(seconds=1))
        assert await container.calls.expire_due() == 0, "within the timeout, bob may come back"
        assert (await a.http.get(f"/api/v1/calls/{call['id']}")).json()["state"] == "connected"
        clock.advance(timedelta(seconds=2))
        await container.calls.expire_due()  # (or the background sweep got there first)
        ended = await alice.until("call.ended")
        assert ended["data"]["outcome"] == "completed"

    record = (await a.http.get(f"/api/v1/calls/{call['id']}")).json()
    assert record["state"] == "ended"
    assert record["duration_seconds"] == (last_seen - began).total_seconds() == 12
    assert datetime.fromisoformat(record["ended_at"]) == last_seen, "not when the sweep ran"
    parts = await legs(container, call["id"])
    assert parts[b.id].disconnect == "network" and parts[b.id].left_at == last_seen
    assert parts[a.id].disconnect == "ended"
    again = await start_call(b, cid, "b" * 32)
    assert again["state"] == "ringing", "bob is free to call again"


async def test_calls_whose_pages_all_went_away_end_as_after_a_restart(
    app: FastAPI, container: Container, clock: FixedClock, settings: Settings
) -> None:
    """No process holds either leg's connection (as after a restart): the call ends once the
    timeout passes, at the time the legs were last seen, and starting a call just works."""
    a, b, cid = await two(app, container)
    call = await start_call(a, cid, "a" * 32)
    await accept(b, call["id"], "b" * 32)
    await connected((a, b), call)
    clock.advance(timedelta(seconds=settings.call_leg_timeout_seconds + 5))
    again = await start_call(a, cid, "c" * 32)  # no sweep ran: starting clears the stale call
    assert again["state"] == "ringing"
    record = (await a.http.get(f"/api/v1/calls/{call['id']}")).json()
    assert record["state"] == "ended" and record["duration_seconds"] == 0
    assert {p.disconnect for p in (await legs(container, call["id"])).values()} == {
        "network",
        "ended",
    }


async def test_someone_in_a_live_call_elsewhere_is_told_which_and_can_leave_it(
    app: FastAPI, container: Container
) -> None:
    a, b, cid = await two(app, container)
    c = await member(app, a)
    async with (
        serving(app) as address,
        stream(address, await token_for(a)) as alice,
        stream(address, await token_for(b)) as bob,
    ):
        call = await start_call(a, cid, alice.device_id)
        await accept(b, call["id"], bob.device_id)
        refused = await a.http.post(
            "/api/v1/calls",
            json={"conversation_id": await direct(a, c), "device_id": alice.device_id},
        )
        assert refused.status_code == 409, refused.text
        assert refused.json()["code"] == "call_state_conflict"
        assert refused.json()["call_id"] == call["id"], "the problem names the call to leave"
        left = await a.http.post(f"/api/v1/calls/{call['id']}/hangup", json={})
        assert left.status_code == 200 and left.json()["state"] == "ended"
        assert (await bob.until("call.ended"))["data"]["call_id"] == call["id"]


async def test_a_page_whose_stream_reconnects_keeps_its_leg_and_its_signalling(
    app: FastAPI, container: Container, clock: FixedClock, settings: Settings
) -> None:
    a, b, cid = await two(app, container)
    async with serving(app) as address, stream(address, await token_for(b)) as bob:
        async with stream(address, await token_for(a)) as first:
            call = await start_call(a, cid, first.device_id)
            await accept(b, call["id"], bob.device_id)
        async with stream(address, await token_for(a)) as second:
            moved = await a.http.post(
                f"/api/v1/calls/{call['id']}/device", json={"device_id": second.device_id}
            )
            assert moved.status_code == 200, moved.text
            clock.advance(timedelta(seconds=settings.call_leg_timeout_seconds + 5))
            assert await container.calls.expire_due() == 0, "the new connection keeps it live"
            await bob.send(
                {"type": "call.signal", "call_id": call["id"], "to": a.id, "kind": "offer"}
            )
            assert (await second.until("call.signal"))["data"]["from"] == b.id
