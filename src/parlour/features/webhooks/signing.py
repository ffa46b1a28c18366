"""Signing webhook requests, and the reference verifier receivers can copy.

A request carries three headers::

    Parlour-Webhook-Id: <delivery id, the same on every retry>
    Parlour-Webhook-Timestamp: <unix seconds when this attempt was signed>
    Parlour-Signature: v1=<hex HMAC-SHA256(secret, f"{timestamp}.{id}.{raw body}")>

During a secret rotation the signature header holds one ``v1=`` value per valid secret,
separated by spaces; a receiver accepts the request when any of them matches its secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping, MutableSet, Sequence
from datetime import datetime

from cryptography.fernet import Fernet, InvalidToken

ID_HEADER = "Parlour-Webhook-Id"
TIMESTAMP_HEADER = "Parlour-Webhook-Timestamp"
SIGNATURE_HEADER = "Parlour-Signature"
SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
TOLERANCE_SECONDS = 300


class InvalidSignature(ValueError):
    """The request is not a fresh, authentic Parlour webhook; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def new_secret() -> str:
    """``whsec_`` and 43 characters of URL-safe base64 (32 random bytes)."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, webhook_id: str, body: bytes) -> str:
    signed = f"{timestamp}.{webhook_id}.".encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign_headers(
    secrets_: Sequence[str], webhook_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The headers of one attempt, signed with every secret currently valid (newest first)."""
    values = " ".join(f"v1={signature(s, timestamp, webhook_id, body)}" for s in secrets_)
    return {ID_HEADER: webhook_id, TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: values}


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    raise InvalidSignature(f"the {name} header is missing")


def verify_signature(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    now: datetime,
    tolerance: int = TOLERANCE_SECONDS,
    seen: MutableSet[str] | None = None,
) -> str:
    """Checks a received webhook; returns its delivery id or raises ``InvalidSignature``.

    ``body`` must be the raw bytes received, before any JSON parsing. A timestamp more than
    ``tolerance`` seconds from ``now`` is refused (an old request replayed). Pass ``seen``, a
    set the receiver keeps (for at least the tolerance window), to refuse a delivery id twice.
    """
    webhook_id = _header(headers, ID_HEADER)
    try:
        timestamp = int(_header(headers, TIMESTAMP_HEADER))
    except ValueError as exc:
        raise InvalidSignature("the timestamp is not a number") from exc
    if abs(now.timestamp() - timestamp) > tolerance:
        raise InvalidSignature("the timestamp is too far from now (a replay, or a wrong clock)")
    expected = signature(secret, timestamp, webhook_id, body)
    offered = [p[3:] for p in _header(headers, SIGNATURE_HEADER).split() if p.startswith("v1=")]
    if not any(hmac.compare_digest(expected, given) for given in offered):
        raise InvalidSignature("no signature matches the secret")
    if seen is not None:
        if webhook_id in seen:
            raise InvalidSignature("this delivery was already received")
        seen.add(webhook_id)
    return webhook_id


class SecretBox:
    """Keeps endpoint secrets encrypted at rest under a key derived from the instance key:
    a copy of the database alone cannot forge webhooks."""

    def __init__(self, instance_key: bytes) -> None:
        derived = hashlib.sha256(b"parlour-webhook-secrets\x00" + instance_key).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken as exc:  # the instance key changed since the secret was made
            raise ValueError("webhook secret cannot be decrypted") from exc
