"""The SDK's exceptions.

    ParlourError
    ├── TransportError          the server could not be reached (after the retries)
    ├── ProtocolError           the answer was not what this SDK understands
    ├── WebhookVerificationError  a webhook delivery failed verification (`reason` says why)
    └── ApiError                the server answered with RFC 9457 problem details
        ├── InvalidRequest      400, 413, 422 (`errors` names each field)
        ├── Unauthenticated     401
        ├── Forbidden           403 (a role, or an API key's scopes, do not allow it)
        ├── NotFound            404, 410
        ├── Conflict            409
        ├── RateLimited         429 (`retry_after` in seconds)
        └── ServerError         5xx

Branch on `code` (stable, documented in Parlour's docs/errors.md), not on `detail` (a
sentence for people that may change).
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class ParlourError(Exception):
    """Base of every exception this SDK raises."""


class TransportError(ParlourError):
    """The request could not be completed over the network."""


class ProtocolError(ParlourError):
    """The server's answer did not have the shape this SDK expects."""


class WebhookVerificationError(ParlourError):
    """A webhook delivery is not authentic or not fresh.

    `reason` is one of "missing_header", "malformed_header", "bad_signature",
    "timestamp_too_old", "timestamp_too_new".
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


class ApiError(ParlourError):
    """A failure reported by the server as problem details."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        errors: tuple[FieldError, ...] = (),
        problem: Mapping[str, Any] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.errors = errors
        self.problem: Mapping[str, Any] = problem or {}  # every member, extensions included
        self.retry_after = retry_after


class InvalidRequest(ApiError):
    """The request was refused as malformed or invalid."""


class Unauthenticated(ApiError):
    """The token or API key is missing, expired or revoked."""


class Forbidden(ApiError):
    """Authenticated, but not allowed."""


class NotFound(ApiError):
    """No such thing, or not visible to this caller (the server does not say which)."""


class Conflict(ApiError):
    """The request contradicts the current state."""


class RateLimited(ApiError):
    """Too many requests; `retry_after` says how many seconds to wait, when the server said."""


class ServerError(ApiError):
    """A fault on the server's side."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: InvalidRequest,
    401: Unauthenticated,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: NotFound,
    413: InvalidRequest,
    422: InvalidRequest,
    429: RateLimited,
}


def error_class(status: int) -> type[ApiError]:
    if status >= 500:
        return ServerError
    return _BY_STATUS.get(status, ApiError)


def api_error(status: int, body: Any, headers: Mapping[str, str]) -> ApiError:
    """The exception for a failed response, from its problem details when it has them."""
    problem: Mapping[str, Any] = body if isinstance(body, dict) else {}
    code = str(problem.get("code") or f"http_{status}")
    detail = str(problem.get("detail") or problem.get("title") or f"HTTP status {status}")
    return error_class(status)(
        status,
        code,
        detail,
        errors=_field_errors(problem.get("errors")),
        problem=problem,
        retry_after=retry_after(headers.get("retry-after"), problem.get("retry_after")),
    )


def _field_errors(raw: Any) -> tuple[FieldError, ...]:
    if not isinstance(raw, list):
        return ()
    return tuple(
        FieldError(str(e.get("field", "")), str(e.get("message", "")))
        for e in raw
        if isinstance(e, dict)
    )


def retry_after(header: str | None, member: Any = None) -> float | None:
    """Seconds to wait, from a Retry-After header (seconds or an HTTP date) or the body."""
    if header:
        text = header.strip()
        if text.isdigit():
            return float(text)
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            when = None
        if when is not None and when.tzinfo is not None:
            return max(0.0, when.timestamp() - time.time())
    if isinstance(member, int | float) and not isinstance(member, bool):
        return float(member)
    return None
