"""Parlour's own words for what a request's schema refused: one text per pydantic error type.

Pydantic's messages ("String should have at least 8 characters", "Value error, ...") never reach
a page or an API client: every error is translated here, and a type not listed gets a plain
"Check this value." rather than the library's sentence.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from parlour.core.errors import AppError, ErrorCode

Error = Mapping[str, Any]
_WHERE = ("body", "query", "path", "header", "cookie")


def _ctx(error: Error, key: str) -> Any:
    return (error.get("ctx") or {}).get(key)


def _too_short(error: Error) -> str:
    least = _ctx(error, "min_length")
    return "This cannot be empty." if least in (None, 1) else f"Use at least {least} characters."


def _value_error(error: Error) -> str:
    if _ctx(error, "reason") is not None:  # pydantic's email check is the only one with a reason
        return "Enter an email address, like name@example.org."
    ours = _ctx(error, "error")  # our own validators raise ValueError with a sentence of ours
    return str(ours) if isinstance(ours, ValueError) and str(ours) else "Check this value."


def _choices(error: Error) -> str:
    expected = _ctx(error, "expected")
    return f"Choose one of {expected}." if expected else "Choose one of the listed values."


_DATE = "Use a date like 1990-04-02."
_DATETIME = "Use a date and time like 2026-01-31T12:00:00Z."
_TEXTS: dict[str, Callable[[Error], str]] = {
    "missing": lambda e: "This is required.",
    "extra_forbidden": lambda e: "This field is not part of this request.",
    "string_too_short": _too_short,
    "string_too_long": lambda e: f"Use at most {_ctx(e, 'max_length')} characters.",
    "too_short": lambda e: f"Give at least {_ctx(e, 'min_length')} of these.",
    "too_long": lambda e: f"Give at most {_ctx(e, 'max_length')} of these.",
    "string_pattern_mismatch": lambda e: "This contains characters that are not allowed here.",
    "string_type": lambda e: "Send text here.",
    "string_unicode": lambda e: "Send text here.",
    "int_type": lambda e: "Send a whole number.",
    "int_parsing": lambda e: "Send a whole number.",
    "int_from_float": lambda e: "Send a whole number.",
    "float_type": lambda e: "Send a number.",
    "float_parsing": lambda e: "Send a number.",
    "finite_number": lambda e: "Send a number.",
    "bool_type": lambda e: "Send true or false.",
    "bool_parsing": lambda e: "Send true or false.",
    "list_type": lambda e: "Send a list.",
    "dict_type": lambda e: "Send an object.",
    "model_type": lambda e: "Send an object.",
    "model_attributes_type": lambda e: "Send an object.",
    "date_type": lambda e: _DATE,
    "date_parsing": lambda e: _DATE,
    "date_from_datetime_parsing": lambda e: _DATE,
    "date_from_datetime_inexact": lambda e: _DATE,
    "datetime_type": lambda e: _DATETIME,
    "datetime_parsing": lambda e: _DATETIME,
    "datetime_from_date_parsing": lambda e: _DATETIME,
    "literal_error": _choices,
    "enum": _choices,
    "greater_than": lambda e: f"Use a number above {_ctx(e, 'gt')}.",
    "greater_than_equal": lambda e: f"Use {_ctx(e, 'ge')} or more.",
    "less_than": lambda e: f"Use a number below {_ctx(e, 'lt')}.",
    "less_than_equal": lambda e: f"Use {_ctx(e, 'le')} or less.",
    "value_error": _value_error,
    "json_invalid": lambda e: "This is not valid JSON.",
}


def message(error: Error) -> str:
    """The sentence Parlour shows for one schema error."""
    text = _TEXTS.get(str(error.get("type", "")))
    return text(error) if text else "Check this value."


def field_name(loc: Iterable[Any]) -> str:
    """'changes.0.purpose' for a nested field; 'body' when the body as a whole is wrong."""
    parts = [str(p) for p in loc if p not in _WHERE]
    return ".".join(parts) or "body"


def field_errors(errors: Iterable[Error]) -> dict[str, str]:
    """The first problem of each field, in Parlour's words, in the order they were found."""
    fields: dict[str, str] = {}
    for error in errors:
        fields.setdefault(field_name(error.get("loc", ())), message(error))
    return fields


def malformed_json(errors: Iterable[Error], body: Any) -> AppError | None:
    """A body that is not JSON at all: where it went wrong, by line and column."""
    for error in errors:
        if error.get("type") == "json_invalid":
            where = _position(error.get("loc", ()), body)
            return AppError(ErrorCode.MALFORMED_JSON, f"The request body is not valid JSON{where}.")
    return None


def _position(loc: Iterable[Any], body: Any) -> str:
    offsets = [p for p in loc if isinstance(p, int)]
    if not offsets or not isinstance(body, str | bytes):
        return ""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    at = min(offsets[0], len(text))
    line = text.count("\n", 0, at) + 1
    column = at - text.rfind("\n", 0, at)
    return f" (line {line}, column {column})"


def frame_problem(errors: Iterable[Error]) -> tuple[ErrorCode, str]:
    """What to say about a stream frame that failed its schema: the first field, in our words.

    Frames keep `validation_failed` even when they are not JSON, as they always had.
    """
    errors = list(errors)
    if any(e.get("type") == "json_invalid" for e in errors):
        return ErrorCode.VALIDATION_FAILED, "The frame is not valid JSON."
    if not errors:
        return ErrorCode.VALIDATION_FAILED, "Check the frame."
    first = errors[0]
    where = field_name(first.get("loc", ()))
    return ErrorCode.VALIDATION_FAILED, f"{'frame' if where == 'body' else where}: {message(first)}"
