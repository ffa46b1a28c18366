"""The stream WebSocket: one per client, carrying every event the user may see."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from itsdangerous import BadSignature
from pydantic import ValidationError

from parlour.container import Container
from parlour.core.errors import AppError, ErrorCode
from parlour.core.ids import new_id
from parlour.features.accounts.actor import Actor
from parlour.features.calls.schemas import SignalFrame
from parlour.features.calls.service import GuestPass, guest_key
from parlour.features.chat.events import device_channel, user_channel
from parlour.features.chat.stream import StreamSession, error_frame
from parlour.realtime.bus import Closed, Overflow, Subscription
from parlour.web import validation
from parlour.web.auth import GUEST_COOKIE, SESSION_COOKIE, guest_id_of, session_signer

log = logging.getLogger("parlour.stream")
router = APIRouter()

SEND_TIMEOUT = 10.0
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_TOO_SLOW = 4008
SIGNAL_MAX = 64 * 1024  # a video offer's SDP with many candidates fits well within


class Sender:
    """Serialises writes from the reader and the pump; a client that stops reading is cut off."""

    def __init__(self, ws: WebSocket) -> None:
        self._ws = ws
        self._lock = asyncio.Lock()

    async def send(self, frame: dict[str, Any]) -> None:
        await self.send_text(json.dumps(frame, separators=(",", ":")))

    async def send_text(self, text: str) -> None:
        async with self._lock:
            async with asyncio.timeout(SEND_TIMEOUT):
                await self._ws.send_text(text)


def _same_origin(ws: WebSocket, container: Container) -> bool:
    origin = ws.headers.get("origin")
    if origin is None:
        return True  # not a browser: cookies are not sent cross-site without one
    allowed = {container.settings.base_url.rstrip("/")}
    host = ws.headers.get("host")
    if host:
        scheme = "https" if ws.url.scheme == "wss" else "http"
        allowed.add(f"{scheme}://{host}")
    parts = urlsplit(origin)
    return f"{parts.scheme}://{parts.netloc}" in allowed


async def _authenticate(ws: WebSocket, container: Container) -> tuple[Actor | None, str]:
    header = ws.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        actor = await container.accounts.authenticate(header[7:].strip(), "token")
        return actor, "This token is expired or was revoked."
    raw = ws.cookies.get(SESSION_COOKIE)
    if not raw:
        return None, "Sign in to open the stream."
    if not _same_origin(ws, container):
        return None, "This stream may only be opened from Parlour's own pages."
    try:
        secret = session_signer(container).unsign(raw).decode()
    except BadSignature:
        return None, "Sign in to open the stream."
    return await container.accounts.authenticate(secret, "cookie"), "Sign in to open the stream."


def _since(ws: WebSocket) -> int | None:
    value = ws.query_params.get("since")
    if value is None or value == "":
        return None
    return int(value) if value.isdigit() and len(value) < 19 else -1


@router.websocket("/api/v1/stream")
async def stream(ws: WebSocket) -> None:
    container: Container = ws.app.state.container
    await ws.accept()
    sender = Sender(ws)
    actor, why = await _authenticate(ws, container)
    if actor is None:
        await sender.send(error_frame(ErrorCode.UNAUTHENTICATED, why))
        await ws.close(CLOSE_UNAUTHENTICATED)
        return
    since = _since(ws)
    if since == -1:
        await sender.send(error_frame(ErrorCode.VALIDATION_FAILED, "since: a whole number"))
        await ws.close(1008)
        return
    service = container.stream
    session = await service.open(actor, since)
    try:
        await sender.send(
            {"type": "hello", "last_event_id": session.last_id, "device_id": session.device_id}
        )
        async for page in service.replay(session):
            for frame in page:
                await sender.send(frame)
        await sender.send({"type": "ready", "last_event_id": session.last_id})
        await _serve(ws, sender, session, container)
    except (WebSocketDisconnect, TimeoutError, Closed, RuntimeError):
        pass
    finally:
        await service.close(session)
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):  # the client left first
            await ws.close()


async def _serve(ws: WebSocket, sender: Sender, session: StreamSession, c: Container) -> None:
    pump = asyncio.create_task(_pump(ws, sender, session, c))
    listen = asyncio.create_task(_listen(ws, sender, session, c))
    done, pending = await asyncio.wait({pump, listen}, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
            await task
    for task in done:
        error = task.exception()
        if error is not None and not isinstance(error, WebSocketDisconnect | Closed):
            raise error


async def _pump(ws: WebSocket, sender: Sender, session: StreamSession, c: Container) -> None:
    beat = c.settings.stream_heartbeat_seconds
    while True:
        try:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation
            # that lands as the frame arrives, and the stream task then never ends.
            async with asyncio.timeout(beat):
                frame = await c.stream.next_live(session)
        except TimeoutError:
            await sender.send({"type": "heartbeat", "last_event_id": session.last_id})
            await c.stream.heartbeat()
            continue
        except Overflow:
            log.info("slow stream consumer cut off", extra={"event": "stream.overflow"})
            await sender.send({"type": "resync", "last_event_id": session.last_id})
            await ws.close(CLOSE_TOO_SLOW, "too slow: reconnect with since=last_event_id")
            return
        if frame is not None:
            await sender.send_text(frame[0])


async def _listen(ws: WebSocket, sender: Sender, session: StreamSession, c: Container) -> None:
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        text = message.get("text")
        if text is None:
            await sender.send(error_frame(ErrorCode.VALIDATION_FAILED, "Send JSON text frames."))
            continue
        if '"call.signal"' in text[:200]:
            reply = await _relay(session.actor, session.device_id, text, c)
        else:
            reply = await c.stream.handle(session, text)
        if reply is not None:
            await sender.send(reply)


async def _relay(
    who: Actor | GuestPass, device_id: str, text: str, c: Container
) -> dict[str, Any] | None:
    """An offer, answer or ICE candidate for another leg of a call; errors stay on this
    connection as an error frame."""
    if len(text) > SIGNAL_MAX:
        return error_frame(ErrorCode.PAYLOAD_TOO_LARGE, f"Frames are at most {SIGNAL_MAX} bytes.")
    try:
        frame = SignalFrame.model_validate_json(text)
        await c.calls.relay(who, device_id, frame.call_id, frame.to, frame.kind, frame.payload)
    except ValidationError as exc:
        return error_frame(*validation.frame_problem(exc.errors()))
    except AppError as exc:
        return {**error_frame(exc.code, exc.detail), "call_id": frame.call_id}
    return None


@router.websocket("/api/v1/guest/stream")
async def guest_stream(ws: WebSocket) -> None:
    """A guest's stream: only the notices and signalling of the one call they joined."""
    container: Container = ws.app.state.container
    await ws.accept()
    sender = Sender(ws)
    guest_id = guest_id_of(container, ws.cookies.get(GUEST_COOKIE))
    guest = None
    if guest_id and _same_origin(ws, container):
        guest = await container.calls.guest_pass(guest_id)
    if guest is None:
        await sender.send(error_frame(ErrorCode.UNAUTHENTICATED, "Open the call link again."))
        await ws.close(CLOSE_UNAUTHENTICATED)
        return
    device_id = new_id()
    channels = (user_channel(guest_key(guest.guest_id)), device_channel(device_id))
    subscription = await container.pump.subscribe(
        *channels, maxsize=container.settings.stream_queue
    )
    try:
        await sender.send({"type": "hello", "last_event_id": 0, "device_id": device_id})
        await sender.send({"type": "ready", "last_event_id": 0})
        forward = asyncio.create_task(
            _guest_forward(ws, sender, subscription, device_id, container)
        )
        listen = asyncio.create_task(_guest_listen(ws, sender, guest, device_id, container))
        _done, pending = await asyncio.wait({forward, listen}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
                await task
    except (WebSocketDisconnect, TimeoutError, Closed, RuntimeError):
        pass
    finally:
        await subscription.close()
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):  # the client left first
            await ws.close()


async def _guest_forward(
    ws: WebSocket, sender: Sender, subscription: Subscription, device_id: str, c: Container
) -> None:
    beat = c.settings.stream_heartbeat_seconds
    while True:
        try:
            async with asyncio.timeout(beat):
                message = await subscription.get()
        except TimeoutError:
            await sender.send({"type": "heartbeat", "last_event_id": 0})
            continue
        except Overflow:
            await ws.close(CLOSE_TOO_SLOW, "too slow: reconnect")
            return
        if message.decoded.get("except_device") != device_id:
            await sender.send_text(message.data.decode())


async def _guest_listen(
    ws: WebSocket, sender: Sender, guest: GuestPass, device_id: str, c: Container
) -> None:
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        text = message.get("text") or ""
        if '"call.signal"' in text[:200]:
            reply = await _relay(guest, device_id, text, c)
        elif '"ping"' in text[:40]:
            reply = {"type": "pong", "last_event_id": 0}
        else:
            reply = error_frame(ErrorCode.VALIDATION_FAILED, "A guest stream takes call.signal.")
        if reply is not None:
            await sender.send(reply)
