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

log = logging.getLogger("parlour.web")

HtmlRenderer = Callable[[Request, AppError], Awaitable[Response]]

_HTTP_CODES = {
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    401: ErrorCode.UNAUTHENTICATED,
    403: ErrorCode.FORBIDDEN,
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


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "cookie")]
    return ".".join(parts) or "body"


async def on_app_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)  # noqa: S101 - registered for AppError only
    return await _render(request, exc)


async def on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)  # noqa: S101
    fields: dict[str, str] = {}
    for err in exc.errors():
        fields.setdefault(_field_name(tuple(err.get("loc", ()))), str(err.get("msg", "invalid")))
    names = ", ".join(fields)
    error = AppError(ErrorCode.VALIDATION_FAILED, f"Check these fields: {names}.", fields=fields)
    return await _render(request, error)


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)  # noqa: S101
    code = _HTTP_CODES.get(exc.status_code, ErrorCode.VALIDATION_FAILED)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    if exc.status_code == 404:
        detail = "There is nothing at this address."
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
