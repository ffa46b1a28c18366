"""A real HTTP and WebSocket server for the app under test, on a free loopback port."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
import websockets
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@asynccontextmanager
async def serving(app: FastAPI, port: int | None = None) -> AsyncIterator[str]:
    """Serves an app whose lifespan the caller already runs; yields its base address."""
    port = port or free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_config=None)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.025)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        done, _ = await asyncio.wait({task}, timeout=10)
        if not done:  # a loaded machine: stop waiting for idle connections to say goodbye
            server.force_exit = True
            await asyncio.wait_for(task, 10)


class StreamClient:
    """A stream connection that collects frames by type."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.last_event_id = 0
        self.device_id = ""

    async def frame(self, timeout: float = 5) -> dict[str, Any]:
        frame: dict[str, Any] = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        if frame.get("type") == "hello":
            self.device_id = frame["device_id"]
        if "last_event_id" in frame:
            self.last_event_id = frame["last_event_id"]
        elif isinstance(frame.get("id"), int):
            self.last_event_id = frame["id"]
        return frame

    async def until(self, kind: str, timeout: float = 5) -> dict[str, Any]:
        while True:
            frame = await self.frame(timeout)
            if frame["type"] == kind:
                return frame

    async def events(self, kind: str, count: int, timeout: float = 5) -> list[dict[str, Any]]:
        return [await self.until(kind, timeout) for _ in range(count)]

    async def send(self, frame: dict[str, Any] | str) -> None:
        await self.ws.send(frame if isinstance(frame, str) else json.dumps(frame))

    async def nothing_more(self, kind: str, wait: float = 0.3) -> None:
        """Asserts no frame of this kind arrives within a short, bounded wait."""
        try:
            while True:
                frame = await self.frame(wait)
                assert frame["type"] != kind, frame
        except TimeoutError:
            return


@asynccontextmanager
async def stream(
    address: str, token: str, since: int | None = None, **headers: str
) -> AsyncIterator[StreamClient]:
    query = "" if since is None else f"?since={since}"
    auth = {"Authorization": f"Bearer {token}", **headers}
    async with websockets.connect(
        f"ws://{address}/api/v1/stream{query}", additional_headers=auth
    ) as ws:
        client = StreamClient(ws)
        await client.until("ready")
        yield client
