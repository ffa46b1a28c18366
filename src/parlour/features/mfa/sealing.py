"""Sealing small secrets at rest with a key derived from the instance secret.

AES-256-GCM with a key from HKDF-SHA256 over the instance's secret key, bound to a purpose; the
row's owner is the associated data, so a sealed value copied to another row does not open.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = "v1"


class SealBroken(Exception):
    """The sealed value was altered, belongs elsewhere, or the instance key changed."""


class Sealer:
    def __init__(self, secret_key: bytes, purpose: str) -> None:
        key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=f"parlour:{purpose}".encode()
        ).derive(secret_key)
        self._aead = AESGCM(key)

    def seal(self, plain: str, owner: str) -> str:
        nonce = os.urandom(12)
        box = self._aead.encrypt(nonce, plain.encode(), owner.encode())
        return f"{VERSION}:" + base64.urlsafe_b64encode(nonce + box).decode()

    def open(self, sealed: str, owner: str) -> str:
        version, _, body = sealed.partition(":")
        if version != VERSION:
            raise SealBroken("unknown seal version")
        raw = base64.urlsafe_b64decode(body.encode())
        try:
            return self._aead.decrypt(raw[:12], raw[12:], owner.encode()).decode()
        except InvalidTag as exc:
            raise SealBroken("the seal does not open") from exc
