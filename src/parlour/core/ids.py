"""Identifiers and secrets: random, URL-safe, never derived from personal data."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid


def new_id() -> str:
    return uuid.uuid4().hex


def new_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def token_digest(token: str) -> str:
    """What we store of a bearer secret: a leaked database row does not sign anyone in."""
    return hashlib.sha256(token.encode()).hexdigest()


def keyed_digest(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
