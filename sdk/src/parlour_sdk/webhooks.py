"""Verifying Parlour's webhook deliveries on the receiving side.

Every delivery carries three headers:

    Parlour-Webhook-Id: <delivery id>
    Parlour-Webhook-Timestamp: <unix seconds>
    Parlour-Signature: v1=<hex HMAC-SHA256(secret, f"{timestamp}.{delivery id}.{raw body}")>

While an endpoint's secret is being rotated the signature header holds several `v1=` values
separated by spaces; one matching value is enough. `verify` checks the signature over the raw
body (before any JSON parsing), refuses a timestamp more than `tolerance` seconds away from
the receiver's clock, and returns the delivery id: remember it (for longer than the tolerance)
and refuse an id you have already seen, so a captured delivery cannot be replayed.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

from parlour_sdk.errors import WebhookVerificationError

ID_HEADER = "Parlour-Webhook-Id"
TIMESTAMP_HEADER = "Parlour-Webhook-Timestamp"
SIGNATURE_HEADER = "Parlour-Signature"
SCHEME = "v1="

__all__ = ["WebhookVerificationError", "verify"]


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes | str,
    tolerance: int = 300,
    now: float | None = None,
) -> str:
    """The delivery id of an authentic, fresh delivery; raises `WebhookVerificationError`.

    `headers` may be any mapping (header names are matched without regard to case); `body`
    is the request body exactly as received.
    """
    delivery_id = _header(headers, ID_HEADER)
    stamp = _header(headers, TIMESTAMP_HEADER)
    offered = _signatures(_header(headers, SIGNATURE_HEADER))
    if not stamp.isdigit():
        raise WebhookVerificationError(
            "malformed_header", f"{TIMESTAMP_HEADER} is not a whole number of seconds."
        )
    raw = body.encode() if isinstance(body, str) else body
    expected = _sign(secret, stamp, delivery_id, raw)
    if not any(hmac.compare_digest(expected, candidate) for candidate in offered):
        raise WebhookVerificationError(
            "bad_signature", "No signature matches this body with this secret."
        )
    _check_fresh(int(stamp), tolerance, time.time() if now is None else now)
    return delivery_id


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if value is None:
        wanted = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == wanted), None)
    if value is None or not value.strip():
        raise WebhookVerificationError("missing_header", f"The {name} header is missing.")
    return value.strip()


def _signatures(header: str) -> list[str]:
    found = [part[len(SCHEME) :] for part in header.split() if part.startswith(SCHEME)]
    if not found:
        raise WebhookVerificationError(
            "malformed_header", f"{SIGNATURE_HEADER} holds no v1= signature."
        )
    return found


def _sign(secret: str, stamp: str, delivery_id: str, body: bytes) -> str:
    signed = f"{stamp}.{delivery_id}.".encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def _check_fresh(stamp: int, tolerance: int, now: float) -> None:
    if now - stamp > tolerance:
        raise WebhookVerificationError(
            "timestamp_too_old",
            f"The delivery was signed {int(now - stamp)} s ago, more than {tolerance} s: "
            "a late retry or a replay.",
        )
    if stamp - now > tolerance:
        raise WebhookVerificationError(
            "timestamp_too_new",
            f"The delivery is dated {int(stamp - now)} s ahead of this clock, more than "
            f"{tolerance} s: check the clocks.",
        )
