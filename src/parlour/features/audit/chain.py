"""The hash chain of the audit log: pure functions, so verification needs only the rows.

Each entry's hash is HMAC-SHA256(chain key, previous hash ‖ "\\n" ‖ canonical JSON of the entry),
where the canonical JSON has sorted keys, no spaces, and the time in UTC with microseconds.
The chain key is derived from the instance secret: someone who can write the database but does
not hold the secret cannot rewrite an entry and recompute the hashes after it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64
KEY_LABEL = b"parlour audit chain v1"


@dataclass(frozen=True)
class Row:
    """One entry as it is hashed (and as the verifier reads it back)."""

    seq: int
    at: datetime
    actor_id: str | None
    actor_role: str
    action: str
    subject_user_id: str | None
    org_id: str | None
    fields: str
    request_id: str | None
    prev_hash: str = ""
    hash: str = ""

    def canonical(self) -> bytes:
        body: dict[str, Any] = {
            "seq": self.seq,
            "at": self.at.astimezone(UTC).isoformat(timespec="microseconds"),
            "actor_id": self.actor_id,
            "actor_role": self.actor_role,
            "action": self.action,
            "subject_user_id": self.subject_user_id,
            "org_id": self.org_id,
            "fields": self.fields,
            "request_id": self.request_id,
        }
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Break:
    """The first entry that does not hold, and why."""

    seq: int
    reason: str

    def __str__(self) -> str:
        return f"audit entry {self.seq}: {self.reason}"


def chain_key(secret: bytes) -> bytes:
    return hmac.new(secret, KEY_LABEL, hashlib.sha256).digest()


def link(key: bytes, prev_hash: str, row: Row) -> str:
    return hmac.new(key, prev_hash.encode() + b"\n" + row.canonical(), hashlib.sha256).hexdigest()


def checkpoint_mac(key: bytes, seq: int, hash_: str) -> str:
    """Seals where a purged chain starts: the last purged entry's position and hash."""
    return hmac.new(key, f"checkpoint\n{seq}\n{hash_}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Start:
    """The entry before the first one kept: the genesis, or the last one purged."""

    seq: int = 0
    hash: str = GENESIS


class Verifier:
    """Fed the rows in order of ``seq``; remembers the first break."""

    def __init__(self, key: bytes, start: Start | None = None) -> None:
        self._key = key
        self._start = start or Start()
        self._last: Row | None = None
        self.checked = 0
        self.broken: Break | None = None

    def feed(self, rows: Iterable[Row]) -> None:
        for row in rows:
            if self.broken is None:
                self.broken = self._check(row)
            self._last = row
            self.checked += 1

    def _check(self, row: Row) -> Break | None:
        last, start = self._last, self._start
        if last is None and row.seq != start.seq + 1:
            return Break(row.seq, f"entries {start.seq + 1} to {row.seq - 1} are missing")
        if last is None and row.prev_hash != start.hash:
            where = "start the chain" if start.seq == 0 else "follow the last purged entry"
            return Break(row.seq, f"the first entry does not {where}")
        if last is not None and row.seq != last.seq + 1:
            return Break(row.seq, f"entries {last.seq + 1} to {row.seq - 1} are missing")
        if last is not None and row.prev_hash != last.hash:
            return Break(row.seq, "does not follow the entry before it")
        if not hmac.compare_digest(row.hash, link(self._key, row.prev_hash, row)):
            return Break(row.seq, "its contents were changed after it was written")
        return None

    @property
    def head(self) -> str:
        return self._last.hash if self._last is not None else self._start.hash
