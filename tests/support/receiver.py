"""A real HTTP receiver for webhooks on a free loopback port, in its own thread.

It records every request it gets (headers and raw body) and answers with the status the test
sets; it can be stopped and started again on the same port, as a receiver that goes down and
comes back would be. Signatures are checked by the tests with their own HMAC code, not with
the feature's.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import socket
import ssl
import tempfile
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


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


def self_signed(name: str, folder: Path) -> tuple[Path, Path]:
    """A certificate for ``name`` that is its own CA, and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class Receiver:
    def __init__(self, tls: bool = False) -> None:
        self.tls = tls
        self.sni: list[str | None] = []  # the server names clients asked for (TLS only)
        self._cert: tuple[Path, Path] | None = None
        if tls:
            self._cert = self_signed("localhost", Path(tempfile.mkdtemp()))
        self.port = free_port()
        self.received: list[Received] = []
        self.status = 200
        self.location: str | None = None  # answer with a redirect to here, when set
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://localhost:{self.port}/hooks"

    def trust(self) -> ssl.SSLContext:
        """A client context that trusts this receiver's certificate (and nothing else)."""
        assert self._cert is not None
        return ssl.create_default_context(cafile=str(self._cert[0]))

    def _wrap(self, server: ThreadingHTTPServer) -> None:
        if self._cert is None:
            return
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*self._cert)
        context.sni_callback = lambda _sock, name, _ctx: self.sni.append(name)  # type: ignore[assignment,misc,func-returns-value]
        server.socket = context.wrap_socket(server.socket, server_side=True)

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
        self._wrap(self._server)
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
