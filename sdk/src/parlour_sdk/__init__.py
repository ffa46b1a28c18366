"""Parlour's Python SDK: REST calls, the resumable event stream, webhook verification.

from parlour_sdk import Client

with Client("https://chat.example.org", token) as parlour:
    chat = parlour.create_direct(colleague_id)
    parlour.send_message(chat.id, "Hello from the SDK")
    for event in parlour.stream(since=saved_id):
        ...
"""

from parlour_sdk import webhooks
from parlour_sdk.client import AsyncClient, Client, __version__
from parlour_sdk.errors import (
    ApiError,
    Conflict,
    FieldError,
    Forbidden,
    InvalidRequest,
    NotFound,
    ParlourError,
    ProtocolError,
    RateLimited,
    ServerError,
    TransportError,
    Unauthenticated,
    WebhookVerificationError,
)
from parlour_sdk.models import (
    Call,
    Conversation,
    Event,
    Member,
    Message,
    Participant,
    Reaction,
    User,
)
from parlour_sdk.stream import AsyncStream, Stream

__all__ = [
    "ApiError",
    "AsyncClient",
    "AsyncStream",
    "Call",
    "Client",
    "Conflict",
    "Conversation",
    "Event",
    "FieldError",
    "Forbidden",
    "InvalidRequest",
    "Member",
    "Message",
    "NotFound",
    "ParlourError",
    "Participant",
    "ProtocolError",
    "RateLimited",
    "Reaction",
    "ServerError",
    "Stream",
    "TransportError",
    "Unauthenticated",
    "User",
    "WebhookVerificationError",
    "__version__",
    "webhooks",
]
