"""A real HTTP receiver for webhooks on a free loopback port, in its own thread.

It records every request it gets (headers and raw body) and answers with the status the test
sets; it can be stopped and started again on the same port, as a receiver that goes down and
comes back would be. Signatures are checked by the tests with their own HMAC code, not with
the feature's.
"""

from __future__ import annotations

import hashlib
import hmac
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Receiver:
    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[Received] = []
        self.status = 200
        self.location: str | None = None  # answer with a redirect to here, when set
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}/hooks"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                headers = {k: v for k, v in self.headers.items()}
                receiver.received.append(Received(self.path, headers, body))
                self.send_response(receiver.status)
                if receiver.location:
                    self.send_header("Location", receiver.location)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: object) -> None:
                return

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def independent_signature(secret: str, timestamp: str, webhook_id: str, body: bytes) -> str:
    """The shared rule, written again here so the test does not trust the feature's code."""
    message = timestamp.encode() + b"." + webhook_id.encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_by(secret: str, got: Received) -> bool:
    expected = independent_signature(
        secret,
        got.headers["Parlour-Webhook-Timestamp"],
        got.headers["Parlour-Webhook-Id"],
        got.body,
    )
    offered = [v.removeprefix("v1=") for v in got.headers["Parlour-Signature"].split(" ")]
    return any(hmac.compare_digest(expected, o) for o in offered)
