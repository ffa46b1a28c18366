"""The access log: method, route, status and time, with the client address truncated."""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from parlour.core.errors import AppError, ErrorCode
from parlour.core.netaddr import truncate_ip
from parlour.web.problems import problem

log = logging.getLogger("parlour.access")


class AccessLog:
    """Logs the path without its query string: links carry one-time secrets there."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def _send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, _send)
        finally:
            client = scope.get("client")
            log.info(
                "request",
                extra={
                    "event": "http.request",
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "ms": round((time.perf_counter() - started) * 1000, 1),
                    "client": truncate_ip(client[0] if client else None),
                },
            )


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def _send(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                    (b"x-frame-options", b"DENY"),
                    (
                        b"content-security-policy",
                        b"default-src 'self'; img-src 'self' data:; object-src 'none'; "
                        b"frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
                    ),
                ]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, _send)


class RefuseNul:
    """A NUL character in the path or query is refused before any route sees it.

    PostgreSQL cannot compare or store one, so an id like ``a%00b`` would fail deep in a query;
    request bodies are checked by the input schemas.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (
            "\x00" in scope["path"] or b"%00" in scope.get("query_string", b"")
        ):
            error = AppError(
                ErrorCode.VALIDATION_FAILED, "The address may not contain NUL characters."
            )
            await problem(error, scope["path"].replace("\x00", ""))(scope, receive, send)
            return
        await self.app(scope, receive, send)
