"""Organisation API keys: scoped, expiring, revocable credentials for programs."""

from parlour.features.apikeys.scopes import SCOPE_TEXT, Scope

__all__ = ["SCOPE_TEXT", "Scope"]
