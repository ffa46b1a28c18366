"""Authenticated encryption of small secrets with a key derived from the instance secret.

Each use names its own purpose, so a value sealed for one (an identity provider's client
secret, say) cannot be opened as another (a sign-in cookie). Fernet (AES-128-CBC with
HMAC-SHA256) carries its own timestamp, which lets short-lived values expire.
"""

from __future__ import annotations

import base64
from datetime import datetime

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class Unreadable(Exception):
    """The value was altered, sealed with another key or purpose, or has expired."""


class SecretBox:
    def __init__(self, secret_key: bytes, purpose: str) -> None:
        derived = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=b"parlour.secretbox", info=purpose.encode()
        ).derive(secret_key)
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def seal(self, value: str, now: datetime) -> str:
        return self._fernet.encrypt_at_time(value.encode(), int(now.timestamp())).decode()

    def open(self, sealed: str, now: datetime, max_age_seconds: int | None = None) -> str:
        try:
            if max_age_seconds is None:
                return self._fernet.decrypt(sealed.encode()).decode()
            return self._fernet.decrypt_at_time(
                sealed.encode(), max_age_seconds, int(now.timestamp())
            ).decode()
        except (InvalidToken, ValueError) as exc:
            raise Unreadable from exc
