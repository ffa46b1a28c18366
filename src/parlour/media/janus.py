"""The SFU adapter for Janus' VideoRoom plugin, over Janus' HTTP API.

One Janus session per Parlour process; each publisher and each subscription is a plugin handle.
Janus answers some requests at once and others later, as events on the session's long poll:
requests wait for the event carrying their transaction id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from typing import Any

import httpx

from parlour.media.sfu import Feed, Offer, Publication, SfuError

log = logging.getLogger("parlour.sfu")

PLUGIN = "janus.plugin.videoroom"
POLL_EVENTS = 10
EVENT_TIMEOUT = 15.0
NO_SUCH_ROOM = 426


class JanusSfu:
    def __init__(self, url: str, timeout: float = EVENT_TIMEOUT) -> None:
        self._url = url.rstrip("/")
        self._timeout = timeout
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(timeout, read=40.0))
        self._session: int | None = None
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._poller: asyncio.Task[None] | None = None
        self._control: int | None = None

    async def start(self) -> None:
        self._session = (await self._post(self._url, {"janus": "create"}))["data"]["id"]
        self._poller = asyncio.create_task(self._poll(), name="parlour-janus-poll")
        self._control = await self._attach()

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        if self._session is not None:
            with contextlib.suppress(SfuError, httpx.HTTPError):
                await self._post(self._session_url, {"janus": "destroy"})
        await self._http.aclose()

    # -- rooms --------------------------------------------------------------------------

    async def ensure_room(self, room: int, max_publishers: int) -> None:
        data, _ = await self._message(self._control_handle, {"request": "exists", "room": room})
        if data.get("exists"):
            return
        body = {
            "request": "create",
            "room": room,
            "publishers": max_publishers,
            "audiocodec": "opus",
            "videocodec": "vp8",
            "notify_joining": True,
        }
        await self._message(self._control_handle, body)

    async def destroy_room(self, room: int) -> None:
        with contextlib.suppress(SfuError):
            await self._message(self._control_handle, {"request": "destroy", "room": room})

    async def feeds(self, room: int) -> list[Feed]:
        data, _ = await self._message(
            self._control_handle, {"request": "listparticipants", "room": room}
        )
        return [
            Feed(int(p["id"]), str(p.get("display", "")))
            for p in data.get("participants", [])
            if p.get("publisher")
        ]

    # -- publishing and subscribing --------------------------------------------------------

    async def publish(self, room: int, display: str, offer_sdp: str) -> Publication:
        handle = await self._attach()
        try:
            joined, _ = await self._message(
                handle, {"request": "join", "ptype": "publisher", "room": room, "display": display}
            )
            _, jsep = await self._message(
                handle,
                {"request": "publish", "audio": True, "video": True},
                {"type": "offer", "sdp": offer_sdp},
            )
        except SfuError:
            await self.leave(handle)
            raise
        if jsep is None or jsep.get("type") != "answer":
            await self.leave(handle)
            raise SfuError("the SFU sent no answer to the offer")
        return Publication(handle, int(joined["id"]), str(jsep["sdp"]))

    async def subscribe(self, room: int, feed: int) -> Offer:
        handle = await self._attach()
        try:
            _, jsep = await self._message(
                handle,
                {
                    "request": "join",
                    "ptype": "subscriber",
                    "room": room,
                    "streams": [{"feed": feed}],
                },
            )
        except SfuError:
            await self.leave(handle)
            raise
        if jsep is None or jsep.get("type") != "offer":
            await self.leave(handle)
            raise SfuError("the SFU sent no offer for that feed")
        return Offer(handle, str(jsep["sdp"]))

    async def answer(self, handle: int, answer_sdp: str) -> None:
        await self._message(handle, {"request": "start"}, {"type": "answer", "sdp": answer_sdp})

    async def trickle(self, handle: int, candidate: dict[str, Any] | None) -> None:
        body: dict[str, Any] = {"janus": "trickle"}
        body["candidate"] = candidate if candidate is not None else {"completed": True}
        await self._post(f"{self._session_url}/{handle}", body)

    async def leave(self, handle: int) -> None:
        with contextlib.suppress(SfuError, httpx.HTTPError):
            await self._post(f"{self._session_url}/{handle}", {"janus": "detach"})

    # -- the HTTP API -----------------------------------------------------------------------

    @property
    def _session_url(self) -> str:
        if self._session is None:
            raise SfuError("the SFU adapter has not started")
        return f"{self._url}/{self._session}"

    @property
    def _control_handle(self) -> int:
        if self._control is None:
            raise SfuError("the SFU adapter has not started")
        return self._control

    async def _attach(self) -> int:
        reply = await self._post(self._session_url, {"janus": "attach", "plugin": PLUGIN})
        handle: int = reply["data"]["id"]
        return handle

    async def _message(
        self, handle: int, body: dict[str, Any], jsep: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Sends a plugin request; returns the plugin's data and any JSEP, now or from the
        event that answers it."""
        request: dict[str, Any] = {"janus": "message", "body": body}
        if jsep is not None:
            request["jsep"] = jsep
        transaction = secrets.token_hex(8)
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[transaction] = waiter
        try:
            reply = await self._post(f"{self._session_url}/{handle}", request, transaction)
            if reply["janus"] == "ack":
                async with asyncio.timeout(self._timeout):
                    reply = await waiter
        except TimeoutError as exc:
            raise SfuError(f"the SFU did not answer '{body.get('request')}' in time") from exc
        finally:
            self._waiting.pop(transaction, None)
        data: dict[str, Any] = reply.get("plugindata", {}).get("data", {})
        if "error" in data:
            raise SfuError(f"{data.get('error_code')}: {data['error']}")
        return data, reply.get("jsep")

    async def _post(
        self, url: str, body: dict[str, Any], transaction: str | None = None
    ) -> dict[str, Any]:
        payload = {**body, "transaction": transaction or secrets.token_hex(8)}
        try:
            response = await self._http.post(url, json=payload)
            reply: dict[str, Any] = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise SfuError(f"the SFU could not be reached ({type(exc).__name__})") from exc
        if reply.get("janus") == "error":
            error = reply.get("error", {})
            raise SfuError(f"{error.get('code')}: {error.get('reason')}")
        return reply

    async def _poll(self) -> None:
        """The session's long poll: hands each event to the request waiting for it. It also
        keeps the session alive."""
        while True:
            try:
                response = await self._http.get(
                    self._session_url, params={"maxev": POLL_EVENTS}, timeout=40.0
                )
                events = response.json()
            except (httpx.HTTPError, ValueError):
                log.warning("SFU event poll failed", extra={"event": "sfu.poll_error"})
                await asyncio.sleep(1)
                continue
            for event in events if isinstance(events, list) else [events]:
                self._deliver(event)

    def _deliver(self, event: dict[str, Any]) -> None:
        waiter = self._waiting.get(str(event.get("transaction", "")))
        if waiter is not None and not waiter.done() and event.get("janus") == "event":
            waiter.set_result(event)
