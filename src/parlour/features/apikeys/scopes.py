"""What an organisation API key may do: one scope per kind of access, checked in the services.

Webhook subscriptions use the same words: a subscription receives only the events, and only the
fields, that its scopes allow (no message bodies without ``messages:read``).
"""

from __future__ import annotations

from enum import StrEnum


class Scope(StrEnum):
    MESSAGES_READ = "messages:read"  # conversations, messages with their bodies, the stream
    MESSAGES_WRITE = "messages:write"  # send, edit and delete messages as the key's bot
    CALLS_READ = "calls:read"  # call records and call events
    CALLS_WRITE = "calls:write"  # start and end calls
    MEMBERS_READ = "members:read"  # the organisation's directory, as every member sees it
    ADMIN_READ = "admin:read"  # usage, audit log and privacy requests, read only
    WEBHOOKS_MANAGE = "webhooks:manage"  # create, change and remove webhook subscriptions


SCOPE_TEXT: dict[Scope, str] = {
    Scope.MESSAGES_READ: "Read conversations and messages, and listen to the stream",
    Scope.MESSAGES_WRITE: "Send, edit and delete messages",
    Scope.CALLS_READ: "Read call records",
    Scope.CALLS_WRITE: "Start and end calls",
    Scope.MEMBERS_READ: "List the organisation's members",
    Scope.ADMIN_READ: "Read usage, the audit log and privacy requests",
    Scope.WEBHOOKS_MANAGE: "Manage webhook subscriptions",
}
