"""Errors that are part of the API: each answers with a status, names the field and carries
the request id; nothing an exception says reaches the caller."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import Scope

log = logging.getLogger(__name__)

# The scope key under which serve_app.http's middleware keeps the request's id.
REQUEST_ID = "matching.request_id"


class ApiError(Exception):
    status_code = 400

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"error": type(self).__name__, "field": self.field, "message": self.message}


class NotFound(ApiError):
    status_code = 404


class InvalidInput(ApiError):
    """A value that passed the schema but not the service (e.g. a cursor it did not issue)."""

    status_code = 422


class Unauthorized(ApiError):
    """No credentials, or ones that do not verify; `challenge` is the WWW-Authenticate value."""

    status_code = 401

    def __init__(self, field: str, message: str, challenge: str) -> None:
        super().__init__(field, message)
        self.challenge = challenge


class Forbidden(ApiError):
    status_code = 403


class Conflict(ApiError):
    status_code = 409


class PayloadTooLarge(ApiError):
    status_code = 413


class RateLimited(ApiError):
    status_code = 429

    def __init__(self, endpoint: str, retry_after_s: int) -> None:
        # The budget spent is the authenticated caller's, so the field is their credential.
        super().__init__(
            "authorization", f"rate limit for {endpoint} reached; retry in {retry_after_s}s"
        )
        self.retry_after_s = retry_after_s


class DependencyUnavailable(ApiError):
    status_code = 503

    def __init__(self, dependency: str, reason: str) -> None:
        super().__init__(dependency, f"{dependency} unavailable: {reason}")
        self.dependency, self.reason = dependency, reason

    def body(self) -> dict[str, Any]:
        # Raised `from` an exception, the reason is that exception's text: logged, not shown.
        if self.__cause__ is None:
            return super().body()
        return {**super().body(), "message": f"{self.dependency} unavailable"}


def request_id(scope: Scope) -> str | None:
    """The id the request-id middleware gave this request (None outside it)."""
    value = scope.get(REQUEST_ID)
    return value if isinstance(value, str) else None


def error_response(
    body: dict[str, Any], status: int, scope: Scope, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """An error body in the API's shape, with the request id."""
    return JSONResponse({**body, "request_id": request_id(scope)}, status, headers=headers)


def validation_body(field: str, message: str, kind: str) -> dict[str, Any]:
    """The 422 body for one rejected field."""
    detail = [{"field": field, "message": message, "type": kind}]
    return {
        "error": "ValidationError",
        "field": field,
        "message": f"{field}: {message}",
        "detail": detail,
    }


def internal_error(scope: Scope) -> JSONResponse:
    """The 500 for anything unexpected: no exception text, no traceback, only the id."""
    body = {"error": "InternalError", "field": None, "message": "internal error"}
    return error_response(body, 500, scope)


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or str(loc[0] if loc else "body")


def _validation_body(exc: RequestValidationError) -> dict[str, Any]:
    details = []
    for err in exc.errors():
        msg = str(err.get("msg", "")).removeprefix("Value error, ")
        details.append(
            {"field": _field(tuple(err.get("loc", ()))), "message": msg, "type": err.get("type")}
        )
    if not details:
        return validation_body("body", "invalid request", "invalid")
    first = details[0]
    return {
        "error": "ValidationError",
        "field": first["field"],
        "message": f"{first['field']}: {first['message']}",
        "detail": details,
    }


def _http_error_name(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.replace(" ", "").replace("-", "")
    except ValueError:
        return "HTTPError"


def install(app: FastAPI) -> None:
    async def on_api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        headers = None
        if isinstance(exc, DependencyUnavailable):
            headers = {"Retry-After": "5"}
            log.warning(
                "%s unavailable (request %s): %s",
                exc.dependency,
                request_id(request.scope),
                exc.reason,
            )
        elif isinstance(exc, RateLimited):
            headers = {"Retry-After": str(exc.retry_after_s)}
        elif isinstance(exc, Unauthorized):
            headers = {"WWW-Authenticate": exc.challenge}
        return error_response(exc.body(), exc.status_code, request.scope, headers)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_response(_validation_body(exc), 422, request.scope)

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        # Starlette's own 404/405 (and any HTTPException) in the API's shape, not {"detail"}.
        assert isinstance(exc, HTTPException)
        body = {"error": _http_error_name(exc.status_code), "field": None, "message": exc.detail}
        return error_response(body, exc.status_code, request.scope, exc.headers)

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(HTTPException, on_http_error)
