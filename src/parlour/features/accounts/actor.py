"""Who is acting: the signed-in user as the service layer sees them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Role = Literal["owner", "admin", "member"]
ROLES: tuple[Role, ...] = ("owner", "admin", "member")


@dataclass(frozen=True)
class Actor:
    user_id: str
    org_id: str
    role: Role
    is_instance_owner: bool
    session_id: str
    via: Literal["cookie", "token"]
    signed_in_at: datetime
    reauth_at: datetime | None
    # The organisation requires a second factor and this user has none yet: until they set one
    # up, the web edge lets them reach only the enrolment pages (web.auth).
    must_enrol: bool = False

    @property
    def is_admin(self) -> bool:
        return self.role in ("owner", "admin")


@dataclass(frozen=True)
class Client:
    """What we learn of the client making a request: kept truncated or not at all."""

    ip_prefix: str
    label: str | None
