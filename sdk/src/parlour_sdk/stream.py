"""The event stream over Parlour's stream WebSocket, resumed across disconnections.

The server numbers every logged event with an increasing id. A connection opened with
`?since=N` first replays the events after N, sends `ready`, then live events; the stream here
remembers the last id it handed to you and reconnects with it after any drop (with jittered
exponential back-off), so every event is delivered once, in order, across disconnections and
server restarts. Keep `stream.last_event_id` to resume in a later process.

It stops for good (raising) only when the server refuses the connection itself: an invalid
token or key (`Unauthenticated`, close code 4401), a forbidden one (`Forbidden`, 4403) or a bad
`since` (`InvalidRequest`, 1008).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Self
from urllib.parse import urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection as AsyncConnection
from websockets.asyncio.client import connect as async_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.sync.client import ClientConnection as SyncConnection
from websockets.sync.client import connect as sync_connect

from parlour_sdk.errors import ApiError, ProtocolError, api_error, error_class
from parlour_sdk.models import Event

STREAM_PATH = "/api/v1/stream"
FATAL_CLOSE = {4401: 401, 4403: 403, 1008: 422}  # close code -> the HTTP status it stands for
CONTROL = {"hello", "ready", "heartbeat", "resync", "pong", "error"}
# Network failures after which a reconnection is worth trying.
RETRYABLE = (ConnectionClosed, OSError, TimeoutError, InvalidHandshake)


@dataclass(frozen=True)
class StreamTarget:
    base_url: str
    token: str

    def url(self, since: int | None) -> str:
        parts = urlsplit(self.base_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        query = "" if since is None else f"since={since}"
        return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + STREAM_PATH, query, ""))

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class Resume:
    """The stream protocol without I/O: what each frame means, and what to do after a drop."""

    def __init__(self, since: int | None, ephemeral: bool, reconnect: bool) -> None:
        self.last_event_id = since
        self.ephemeral = ephemeral
        self.reconnect = reconnect
        self.failures = 0
        self.ready = False
        self._refusal: tuple[str, str] | None = None

    def opened(self) -> None:
        self.ready = False
        self._refusal = None

    def on_frame(self, text: str | bytes) -> Event | None:
        """The event to hand on for this frame, if any."""
        frame = _json(text)
        kind = frame.get("type")
        if kind in CONTROL:
            self._control(kind, frame)
            return None
        event_id = frame.get("id")
        if isinstance(event_id, int) and not isinstance(event_id, bool):
            if self.last_event_id is not None and event_id <= self.last_event_id:
                return None  # already delivered (the server drops these too; belt and braces)
            self.last_event_id = event_id
            return _event(frame)
        return _event(frame) if self.ephemeral else None

    def _control(self, kind: str, frame: dict[str, Any]) -> None:
        mark = frame.get("last_event_id")
        if kind == "hello" and isinstance(mark, int):
            self.last_event_id = mark  # where the server starts (a `since` it clamped, say)
        elif kind == "ready":
            self.ready = True
            self.failures = 0
        elif kind in ("heartbeat", "resync") and isinstance(mark, int):
            # Everything up to `mark` for this connection was sent before this frame.
            self.last_event_id = max(mark, self.last_event_id or 0)
        elif kind == "error" and not self.ready:
            self._refusal = (str(frame.get("code", "")), str(frame.get("detail", "")))

    def after_close(self, close_code: int | None) -> float | None:
        """Seconds to wait before reconnecting, None to stop; raises when refused for good."""
        status = FATAL_CLOSE.get(close_code or 0)
        if status is not None:
            code, detail = self._refusal or (
                f"closed_{close_code}",
                "The server refused the stream.",
            )
            raise error_class(status)(status, code, detail)
        if not self.reconnect:
            return None
        backoff = min(30.0, 0.5 * float(2 ** min(self.failures, 6)))
        delay = backoff * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not a secret
        self.failures += 1
        return delay


def _json(text: str | bytes) -> dict[str, Any]:
    try:
        frame = json.loads(text)
    except ValueError as error:
        raise ProtocolError(f"the stream sent a frame that is not JSON: {error}") from error
    if not isinstance(frame, dict):
        raise ProtocolError("the stream sent a frame that is not a JSON object")
    return frame


def _event(frame: dict[str, Any]) -> Event:
    at = frame.get("at")
    data = frame.get("data")
    event_id = frame.get("id")
    return Event(
        type=str(frame.get("type")),
        id=event_id if isinstance(event_id, int) else None,
        conversation_id=frame.get("conversation_id"),
        at=datetime.fromisoformat(at) if isinstance(at, str) else None,
        data=data if isinstance(data, dict) else {},
    )


def _close_code(error: BaseException) -> int | None:
    if isinstance(error, ConnectionClosed) and error.rcvd is not None:
        return error.rcvd.code
    return None


def _refused(error: InvalidStatus) -> ApiError | None:
    """A handshake answered with an HTTP error that retrying will not cure."""
    status = error.response.status_code
    if status >= 500 or status == 429:
        return None
    body: Any = None
    try:
        body = json.loads(error.response.body or b"")
    except ValueError:
        body = None
    return api_error(status, body, {k.lower(): v for k, v in error.response.headers.raw_items()})


class Stream:
    """Blocking iteration over the event stream: `for event in client.stream(since=n)`."""

    def __init__(
        self,
        target: StreamTarget,
        since: int | None = None,
        *,
        ephemeral: bool = False,
        reconnect: bool = True,
        idle_timeout: float = 60.0,
    ) -> None:
        self._target = target
        self._state = Resume(since, ephemeral, reconnect)
        self._idle = idle_timeout  # the server sends a heartbeat every 25 s when idle
        self._ws: SyncConnection | None = None
        self._stopped = False
        self._events = self._run()

    @property
    def last_event_id(self) -> int | None:
        """The id of the last event handed on: resume from it with `stream(since=...)`."""
        return self._state.last_event_id

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> Event:
        return next(self._events)

    def _run(self) -> Generator[Event, None, None]:
        while not self._stopped:
            code: int | None = None
            try:
                yield from self._connection()
            except InvalidStatus as error:
                refusal = _refused(error)
                if refusal is not None:
                    raise refusal from error
            except RETRYABLE as error:
                code = _close_code(error)
            delay = None if self._stopped else self._state.after_close(code)
            if delay is None:
                return
            time.sleep(delay)

    def _connection(self) -> Iterator[Event]:
        url = self._target.url(self._state.last_event_id)
        with sync_connect(url, additional_headers=self._target.headers(), open_timeout=10) as ws:
            self._ws = ws
            self._state.opened()
            while not self._stopped:
                event = self._state.on_frame(ws.recv(timeout=self._idle))
                if event is not None:
                    yield event

    def disconnect(self) -> None:
        """Drops the current connection; iteration goes on over a new one, resuming."""
        if self._ws is not None:
            self._ws.close()

    def close(self) -> None:
        """Ends the iteration and the connection; safe to call from another thread."""
        self._stopped = True
        if self._ws is not None:
            self._ws.close()
        with contextlib.suppress(ValueError):  # iterating in another thread: it stops there
            self._events.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncStream:
    """`async for event in client.stream(since=n)`; close with `await stream.aclose()`."""

    def __init__(
        self,
        target: StreamTarget,
        since: int | None = None,
        *,
        ephemeral: bool = False,
        reconnect: bool = True,
        idle_timeout: float = 60.0,
    ) -> None:
        self._target = target
        self._state = Resume(since, ephemeral, reconnect)
        self._idle = idle_timeout
        self._ws: AsyncConnection | None = None
        self._events = self._run()

    @property
    def last_event_id(self) -> int | None:
        return self._state.last_event_id

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Event:
        return await anext(self._events)

    async def _run(self) -> AsyncGenerator[Event, None]:
        while True:
            code: int | None = None
            try:
                async for event in self._connection():
                    yield event
            except InvalidStatus as error:
                refusal = _refused(error)
                if refusal is not None:
                    raise refusal from error
            except RETRYABLE as error:
                code = _close_code(error)
            delay = self._state.after_close(code)
            if delay is None:
                return
            await asyncio.sleep(delay)

    async def _connection(self) -> AsyncIterator[Event]:
        url = self._target.url(self._state.last_event_id)
        headers = self._target.headers()
        async with async_connect(url, additional_headers=headers, open_timeout=10) as ws:
            self._ws = ws
            self._state.opened()
            while True:
                async with asyncio.timeout(self._idle):
                    text = await ws.recv()
                event = self._state.on_frame(text)
                if event is not None:
                    yield event

    async def disconnect(self) -> None:
        """Drops the current connection; iteration goes on over a new one, resuming."""
        if self._ws is not None:
            await self._ws.close()

    async def aclose(self) -> None:
        await self._events.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
