"""Organisation API keys: scoped, expiring, revocable credentials for programs."""

from parlour.features.apikeys.access import (
    KEY_PREFIX,
    KeyActor,
    has_scope,
    is_key,
    may_read_admin,
    require_scope,
)
from parlour.features.apikeys.scopes import SCOPE_TEXT, Scope

__all__ = [
    "KEY_PREFIX",
    "SCOPE_TEXT",
    "KeyActor",
    "Scope",
    "has_scope",
    "is_key",
    "may_read_admin",
    "require_scope",
]
