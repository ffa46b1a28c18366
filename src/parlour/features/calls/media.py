"""Calls carried by the SFU: publishing one's media, subscribing to others', and tidying up.

Janus keeps the media; this process keeps which plugin handles belong to whom, so a participant
only ever answers or trickles on their own handles. Handles live as long as the process: a
call carried by the SFU is served by one node (route calls by id when running several).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from parlour.core.errors import AppError, ErrorCode
from parlour.features.accounts.actor import Actor
from parlour.features.calls import state as machine
from parlour.features.calls.records import GuestPass
from parlour.features.calls.service import CallService
from parlour.features.chat.events import EventLog, user_channel
from parlour.media.sfu import Sfu, SfuError

log = logging.getLogger("parlour.calls.media")


@dataclass(frozen=True)
class FeedView:
    participant: str
    feed: int


class CallMedia:
    def __init__(self, calls: CallService, sfu: Sfu | None, events: EventLog) -> None:
        self._calls = calls
        self._sfu = sfu
        self._events = events
        self._handles: dict[tuple[str, str], set[int]] = defaultdict(set)
        self._publications: dict[tuple[str, str], int] = {}
        calls.watch(self._on_change)

    async def close(self) -> None:
        if self._sfu is not None:
            await self._sfu.close()

    async def publish(
        self, who: Actor | GuestPass, call_id: str, offer_sdp: str
    ) -> tuple[int, str]:
        """Sends the participant's media to the SFU; returns their feed and the SDP answer."""
        sfu, room, key, others = await self._access(who, call_id)
        try:
            await sfu.ensure_room(room, self._calls.sfu_capacity)
            published = await sfu.publish(room, key, offer_sdp)
        except SfuError as exc:
            raise _unavailable(exc) from exc
        previous = self._publications.pop((call_id, key), None)
        if previous is not None:
            await sfu.leave(previous)
            self._handles[(call_id, key)].discard(previous)
        self._handles[(call_id, key)].add(published.handle)
        self._publications[(call_id, key)] = published.handle
        wire = {
            "type": "call.feed",
            "data": {"call_id": call_id, "participant": key, "feed": published.feed},
        }
        await self._events.publish_to(wire, [user_channel(p) for p in others])
        return published.feed, published.answer_sdp

    async def feeds(self, who: Actor | GuestPass, call_id: str) -> list[FeedView]:
        sfu, room, key, _others = await self._access(who, call_id)
        try:
            found = await sfu.feeds(room)
        except SfuError:
            return []  # the room is made at the first publication
        return [FeedView(f.display, f.feed) for f in found if f.display != key]

    async def subscribe(self, who: Actor | GuestPass, call_id: str, feed: int) -> tuple[int, str]:
        sfu, room, key, _others = await self._access(who, call_id)
        if feed not in {f.feed for f in await self.feeds(who, call_id)}:
            raise AppError(ErrorCode.NOT_FOUND, "No such feed in this call.")
        try:
            offer = await sfu.subscribe(room, feed)
        except SfuError as exc:
            raise _unavailable(exc) from exc
        self._handles[(call_id, key)].add(offer.handle)
        return offer.handle, offer.offer_sdp

    async def answer(
        self, who: Actor | GuestPass, call_id: str, handle: int, answer_sdp: str
    ) -> None:
        sfu = await self._own_handle(who, call_id, handle)
        try:
            await sfu.answer(handle, answer_sdp)
        except SfuError as exc:
            raise _unavailable(exc) from exc

    async def trickle(
        self, who: Actor | GuestPass, call_id: str, handle: int, candidate: dict[str, Any] | None
    ) -> None:
        sfu = await self._own_handle(who, call_id, handle)
        try:
            await sfu.trickle(handle, candidate)
        except SfuError as exc:
            raise _unavailable(exc) from exc

    async def _own_handle(self, who: Actor | GuestPass, call_id: str, handle: int) -> Sfu:
        sfu, _room, key, _others = await self._access(who, call_id)
        if handle not in self._handles.get((call_id, key), set()):
            raise AppError(ErrorCode.NOT_FOUND, "No such media handle of yours in this call.")
        return sfu

    async def _access(
        self, who: Actor | GuestPass, call_id: str
    ) -> tuple[Sfu, int, str, list[str]]:
        row, party = await self._calls.active_leg(who, call_id)
        if self._sfu is None or row.mode != "sfu" or row.sfu_room is None:
            raise AppError(ErrorCode.CALL_STATE, "This call runs browser to browser.")
        view = await self._calls.get(who, call_id)
        others = [
            p.user_id or f"guest:{p.guest_id}"
            for p in view.participants
            if p.state in ("accepted", "connected")
        ]
        return self._sfu, row.sfu_room, party.key, [o for o in others if o != party.key]

    async def _on_change(self, call_id: str, room: int | None, call: machine.Call) -> None:
        """Frees the handles of whoever left; the room goes when the call ends."""
        if room is None or self._sfu is None:
            return
        gone = [leg.participant for leg in call.legs if not leg.active]
        if call.state is machine.CallState.ENDED:
            gone = [leg.participant for leg in call.legs]
        for key in gone:
            self._publications.pop((call_id, key), None)
            for handle in self._handles.pop((call_id, key), set()):
                await self._sfu.leave(handle)
        if call.state is machine.CallState.ENDED:
            await self._sfu.destroy_room(room)


def _unavailable(exc: SfuError) -> AppError:
    log.warning("SFU request failed", extra={"event": "sfu.failed", "reason": str(exc)[:200]})
    return AppError(ErrorCode.SFU_UNAVAILABLE, "The media server could not take this request.")
