"""The actor an API key resolves to, and the one scope check every service calls."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from parlour.core.errors import AppError, ErrorCode
from parlour.features.accounts.actor import Actor
from parlour.features.apikeys.scopes import Scope

KEY_PREFIX = "pk_"  # keys are sent as 'Authorization: Bearer pk_<key id>_<secret>'


@dataclass(frozen=True)
class KeyActor(Actor):
    """A program calling with an organisation's key. It acts as the key's bot account
    (``user_id``), with the role of a member, and only within ``scopes``."""

    key_id: str = ""
    scopes: frozenset[Scope] = frozenset()
    last_used_at: datetime | None = None


def is_key(actor: Actor) -> bool:
    return isinstance(actor, KeyActor)


def has_scope(actor: object, scope: Scope) -> bool:
    """People are limited by their role alone; keys by their scopes too."""
    return not isinstance(actor, KeyActor) or scope in actor.scopes


def require_scope(actor: object, scope: Scope) -> None:
    """Refuses a key that lacks ``scope`` with 403 ``insufficient_scope``; people pass."""
    if not has_scope(actor, scope):
        raise AppError(
            ErrorCode.INSUFFICIENT_SCOPE,
            f"This API key lacks the scope '{scope}'.",
            data={"required_scope": str(scope)},
        )


def may_read_admin(actor: Actor, org_id: str) -> bool:
    """Owners and admins, or a key of the same organisation with ``admin:read``."""
    if actor.org_id != org_id:
        return False
    if isinstance(actor, KeyActor):
        require_scope(actor, Scope.ADMIN_READ)
        return True
    return actor.is_admin
