"""The one error model: every failure is an AppError with a stable code."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    """Stable, documented error codes. Clients may branch on these; never rename one."""

    VALIDATION_FAILED = "validation_failed"
    MALFORMED_JSON = "malformed_json"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    UNAUTHENTICATED = "unauthenticated"
    FORBIDDEN = "forbidden"
    CSRF_FAILED = "csrf_failed"
    INVALID_CREDENTIALS = "invalid_credentials"
    REAUTH_REQUIRED = "reauthentication_required"
    TOO_MANY_ATTEMPTS = "too_many_attempts"
    UNDER_MINIMUM_AGE = "under_minimum_age"
    POLICY_NOT_ACCEPTED = "policy_not_accepted"
    EMAIL_TAKEN = "email_taken"
    INVITATION_INVALID = "invitation_invalid"
    TOKEN_INVALID = "token_invalid"  # noqa: S105 - an error code
    SETUP_DONE = "setup_already_done"
    WEAK_PASSWORD = "weak_password"  # noqa: S105 - an error code
    IMAGE_INVALID = "image_invalid"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    CONFLICT = "conflict"
    LAST_OWNER = "last_owner"
    NOT_DELIVERED = "not_delivered"
    CALL_TOO_LARGE = "call_too_large"
    CALL_STATE = "call_state_conflict"
    SFU_UNAVAILABLE = "sfu_unavailable"
    EXPORT_NOT_READY = "export_not_ready"
    EXPORT_EXPIRED = "export_expired"
    VERIFICATION_FAILED = "verification_failed"
    REQUEST_STATE = "request_state_conflict"
    INTERNAL = "internal_error"


_DEFAULT_STATUS: dict[ErrorCode, int] = {
    ErrorCode.VALIDATION_FAILED: 422,
    ErrorCode.MALFORMED_JSON: 400,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.CSRF_FAILED: 403,
    ErrorCode.INVALID_CREDENTIALS: 401,
    ErrorCode.REAUTH_REQUIRED: 401,
    ErrorCode.TOO_MANY_ATTEMPTS: 429,
    ErrorCode.UNDER_MINIMUM_AGE: 422,
    ErrorCode.POLICY_NOT_ACCEPTED: 422,
    ErrorCode.EMAIL_TAKEN: 409,
    ErrorCode.INVITATION_INVALID: 404,
    ErrorCode.TOKEN_INVALID: 400,
    ErrorCode.SETUP_DONE: 409,
    ErrorCode.WEAK_PASSWORD: 422,
    ErrorCode.IMAGE_INVALID: 422,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.CONFLICT: 409,
    ErrorCode.LAST_OWNER: 409,
    ErrorCode.NOT_DELIVERED: 403,
    ErrorCode.CALL_TOO_LARGE: 409,
    ErrorCode.CALL_STATE: 409,
    ErrorCode.SFU_UNAVAILABLE: 503,
    ErrorCode.EXPORT_NOT_READY: 409,
    ErrorCode.EXPORT_EXPIRED: 410,
    ErrorCode.VERIFICATION_FAILED: 400,
    ErrorCode.REQUEST_STATE: 409,
    ErrorCode.INTERNAL: 500,
}


class AppError(Exception):
    """A failure the user can understand. Rendered as RFC 9457 problem details over HTTP."""

    def __init__(
        self,
        code: ErrorCode,
        detail: str,
        *,
        status: int | None = None,
        fields: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.status = status or _DEFAULT_STATUS[code]
        self.fields = fields or {}
        self.headers = headers or {}
        self.data = data or {}


def not_found(what: str = "resource") -> AppError:
    """The same answer for absent and forbidden, so nobody learns what exists elsewhere."""
    return AppError(ErrorCode.NOT_FOUND, f"No such {what}.")


def invalid(field: str, message: str, code: ErrorCode = ErrorCode.VALIDATION_FAILED) -> AppError:
    return AppError(code, message, fields={field: message})
