"""Each node's event pump: reads new events from the log, in order, and fans them out locally.

The bus carries only hints ("the log has grown"); the log is read once per node, hydrated once,
and encoded once, then handed to every local stream connection that follows the channel. Events
commit in id order (writers are serialised), so reading ``id > last`` never skips one, and a
lost hint costs at most one poll interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from parlour.db.uow import Database
from parlour.features.chat import store
from parlour.features.chat.events import (
    EPHEMERAL,
    HINTS,
    EventLog,
    channels_of,
    conversation_channel,
)
from parlour.features.chat.models import Event
from parlour.realtime.bus import LocalFanout, Message, Overflow, PubSub, Subscription

log = logging.getLogger("parlour.pump")

BATCH = 1000
POLL_SECONDS = 2.0
HINT_QUEUE = 10_000


class EventPump:
    def __init__(self, db: Database, bus: PubSub, events: EventLog) -> None:
        self._db = db
        self._bus = bus
        self._events = events
        self._fanout = LocalFanout()
        self._last_id = 0
        self._task: asyncio.Task[None] | None = None
        self._hints: Subscription | None = None

    @property
    def last_id(self) -> int:
        return self._last_id

    async def start(self) -> None:
        self._hints = await self._bus.subscribe(HINTS, EPHEMERAL, maxsize=HINT_QUEUE)
        async with self._db.transaction() as uow:
            self._last_id = await store.max_event_id(uow.session)
        self._task = asyncio.create_task(self._run(), name="parlour-event-pump")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._hints is not None:
            await self._hints.close()

    async def subscribe(self, *channels: str, maxsize: int) -> Subscription:
        sub = Subscription(self._fanout, maxsize)
        await sub.listen(*channels)
        return sub

    async def _run(self) -> None:
        while True:
            try:
                await self._wait_for_hint()
                await self.catch_up()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("event pump round failed", extra={"event": "pump.error"})
                await asyncio.sleep(POLL_SECONDS)

    async def _wait_for_hint(self) -> None:
        """Returns when the log may have grown; passes typing and presence straight on."""
        assert self._hints is not None  # noqa: S101 - started
        try:
            async with asyncio.timeout(POLL_SECONDS):  # unlike wait_for, keeps a cancellation
                message = await self._hints.get()
        except TimeoutError:
            return
        except Overflow:
            await self._hints.close()
            self._hints = await self._bus.subscribe(HINTS, EPHEMERAL, maxsize=HINT_QUEUE)
            return
        while True:
            if message.channel == EPHEMERAL:
                self._pass_on(message)
            if self._hints.pending() == 0:
                return
            message = await self._hints.get()

    def _pass_on(self, message: Message) -> None:
        wire = json.loads(message.data)
        channels = [conversation_channel(c) for c in wire.pop("to", [])] + wire.pop("ch", [])
        data = json.dumps(wire, separators=(",", ":")).encode()
        self._fanout.deliver_once(channels, Message("", data, wire))

    async def catch_up(self) -> None:
        while True:
            async with self._db.transaction() as uow:
                rows = await store.events_after(uow.session, self._last_id, BATCH)
                hydrated = await self._events.hydrate(uow.session, rows)
            for event, wire in hydrated:
                self._deliver(event, wire)
            if rows:
                self._last_id = rows[-1].id
            if len(rows) < BATCH:
                return

    def _deliver(self, event: Event, wire: dict[str, Any]) -> None:
        data = json.dumps(wire, separators=(",", ":")).encode()
        self._fanout.deliver_once(channels_of(wire, event), Message("", data, wire))
