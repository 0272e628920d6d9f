"""Errors that are part of the API: each answers with a status and names the field."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse


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


class RateLimited(ApiError):
    status_code = 429

    def __init__(self, endpoint: str, retry_after_s: int) -> None:
        super().__init__("user_id", f"rate limit for {endpoint} reached; retry in {retry_after_s}s")
        self.retry_after_s = retry_after_s


class DependencyUnavailable(ApiError):
    status_code = 503

    def __init__(self, dependency: str, reason: str) -> None:
        super().__init__(dependency, f"{dependency} unavailable: {reason}")


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
    first = details[0] if details else {"field": "body", "message": "invalid request"}
    return {
        "error": "ValidationError",
        "field": first["field"],
        "message": f"{first['field']}: {first['message']}",
        "detail": details,
    }


def install(app: FastAPI) -> None:
    async def on_api_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        headers = None
        if isinstance(exc, DependencyUnavailable):
            headers = {"Retry-After": "5"}
        elif isinstance(exc, RateLimited):
            headers = {"Retry-After": str(exc.retry_after_s)}
        elif isinstance(exc, Unauthorized):
            headers = {"WWW-Authenticate": exc.challenge}
        return JSONResponse(exc.body(), status_code=exc.status_code, headers=headers)

    async def on_validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return JSONResponse(_validation_body(exc), status_code=422)

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation)
