"""Every failure leaves as RFC 9457 problem details with a stable code (or an HTML page)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from parlour.core.errors import AppError, ErrorCode
from parlour.web import validation

log = logging.getLogger("parlour.web")

HtmlRenderer = Callable[[Request, AppError], Awaitable[Response]]

_HTTP_CODES = {
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    401: ErrorCode.UNAUTHENTICATED,
    403: ErrorCode.FORBIDDEN,
}

# Starlette's own texts ("Method Not Allowed", "There was an error parsing the body") stay out.
_HTTP_DETAILS = {
    404: "There is nothing at this address.",
    405: "This address does not take that kind of request.",
    413: "The request is too large.",
    401: "Sign in first.",
    403: "This is not allowed.",
}


def problem(error: AppError, instance: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"urn:parlour:problem:{error.code.value}",
        "title": HTTPStatus(error.status).phrase,
        "status": error.status,
        "detail": error.detail,
        "code": error.code.value,
    }
    if instance:
        body["instance"] = instance
    if error.fields:
        body["errors"] = [{"field": k, "message": v} for k, v in error.fields.items()]
    body.update(error.data)
    return JSONResponse(
        body, status_code=error.status, headers=error.headers, media_type="application/problem+json"
    )


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get(
        "accept", ""
    )


async def _render(request: Request, error: AppError) -> Response:
    renderer: HtmlRenderer | None = getattr(request.app.state, "render_error", None)
    if renderer is not None and _wants_html(request):
        return await renderer(request, error)
    return problem(error, request.url.path)


async def on_app_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)  # noqa: S101 - registered for AppError only
    return await _render(request, exc)


async def on_validation_error(request: Request, exc: Exception) -> Response:
    """Fields by name, each with Parlour's own sentence; a body that is not JSON says so."""
    assert isinstance(exc, RequestValidationError)  # noqa: S101
    errors = exc.errors()
    error = validation.malformed_json(errors, exc.body)
    if error is None:
        fields = validation.field_errors(errors)
        error = AppError(
            ErrorCode.VALIDATION_FAILED, f"Check these fields: {', '.join(fields)}.", fields=fields
        )
    return await _render(request, error)


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)  # noqa: S101
    code = _HTTP_CODES.get(exc.status_code, ErrorCode.VALIDATION_FAILED)
    detail = _HTTP_DETAILS.get(exc.status_code, "This request cannot be handled as sent.")
    error = AppError(code, detail, status=exc.status_code, headers=dict(exc.headers or {}))
    return await _render(request, error)


async def on_unexpected(request: Request, exc: Exception) -> Response:
    log.error(
        "unexpected failure", exc_info=exc, extra={"event": "http.error", "path": request.url.path}
    )
    return problem(
        AppError(ErrorCode.INTERNAL, "Something went wrong on our side."), request.url.path
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(AppError, on_app_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)
