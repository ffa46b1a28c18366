"""What the browser carries between the steps of a sign-in, sealed so it can neither read the
secrets inside nor change them: the flow (state, nonce, PKCE verifier) on the way to the
provider, then, for a new account, who the provider said the person is."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from parlour.core.secretbox import SecretBox, Unreadable

FLOW_SECONDS = 600
NEW_ACCOUNT_SECONDS = 900
DOMAIN = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


@dataclass(frozen=True)
class Flow:
    org_id: str
    state: str
    nonce: str
    verifier: str
    next: str


@dataclass(frozen=True)
class Vouched:
    """A person the provider vouched for, who has no account yet."""

    org_id: str
    issuer: str
    subject: str
    email: str
    name: str
    next: str


class Seals:
    def __init__(self, secret_key: bytes) -> None:
        self._flow = SecretBox(secret_key, "parlour.sso.flow")
        self._vouched = SecretBox(secret_key, "parlour.sso.new-account")

    def seal_flow(self, flow: Flow, now: datetime) -> str:
        return self._flow.seal(json.dumps(asdict(flow)), now)

    def open_flow(self, sealed: str | None, now: datetime) -> Flow | None:
        data = _open(self._flow, sealed, now, FLOW_SECONDS)
        return Flow(**data) if data is not None else None

    def seal_vouched(self, vouched: Vouched, now: datetime) -> str:
        return self._vouched.seal(json.dumps(asdict(vouched)), now)

    def open_vouched(self, sealed: str | None, now: datetime) -> Vouched | None:
        data = _open(self._vouched, sealed, now, NEW_ACCOUNT_SECONDS)
        return Vouched(**data) if data is not None else None


def _open(box: SecretBox, sealed: str | None, now: datetime, seconds: int) -> dict[str, Any] | None:
    if not sealed:
        return None
    try:
        data = json.loads(box.open(sealed, now, seconds))
    except (Unreadable, ValueError):
        return None
    return data if isinstance(data, dict) else None


def domain_of(email_or_domain: str) -> str:
    """'Ana@Acme.example' and 'acme.example' both give 'acme.example'."""
    return email_or_domain.strip().rpartition("@")[2].strip().lower().rstrip(".")


def is_domain(value: str) -> bool:
    return DOMAIN.match(value) is not None
