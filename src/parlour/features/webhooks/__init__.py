"""Webhooks: an organisation's admins subscribe URLs to events; Parlour POSTs them signed,
retries with backoff, logs every attempt, refuses unsafe addresses and turns off an endpoint
that keeps failing (with a mail to the owners). See docs/api.md, "Webhooks"."""

from parlour.features.webhooks.addresses import is_public
from parlour.features.webhooks.delivery import (
    DISABLE_AFTER,
    MAX_ATTEMPTS,
    RETRY_DELAYS,
    WebhookSender,
)
from parlour.features.webhooks.payloads import EVENT_TYPES, PAYLOAD_SCOPES
from parlour.features.webhooks.service import NewEndpoint, WebhookService, WithSecret
from parlour.features.webhooks.signing import (
    ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    InvalidSignature,
    sign_headers,
    verify_signature,
)
from parlour.features.webhooks.wiring import build_webhooks

__all__ = [
    "DISABLE_AFTER",
    "EVENT_TYPES",
    "ID_HEADER",
    "MAX_ATTEMPTS",
    "PAYLOAD_SCOPES",
    "RETRY_DELAYS",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "InvalidSignature",
    "NewEndpoint",
    "WebhookSender",
    "WebhookService",
    "WithSecret",
    "build_webhooks",
    "is_public",
    "sign_headers",
    "verify_signature",
]
