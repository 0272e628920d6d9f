"""The OpenAPI contract: one error body, and every status each operation can answer.

Statuses every route shares are derived from the route itself (the body guard and the 500
reach every request; credentials add 401 and 503; a rate budget adds 429); a route declares
only its own (403, 404, 409, a success other than 200) with `error_responses`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel

from matching.core.api.deps import RateBudget, get_caller

ERROR_REF = "#/components/schemas/ErrorBody"


class ErrorDetail(BaseModel):
    """One rejected field of a 422."""

    field: str
    message: str
    type: str


class ErrorBody(BaseModel):
    """Every error the service answers: the kind, the field at fault, a message, the id."""

    error: str
    field: str | None
    message: str
    detail: list[ErrorDetail] | None = None
    request_id: str | None = None


DESCRIPTIONS = {
    401: "Missing or unverifiable credentials (`field` names the header)",
    403: "Not allowed for this caller (`field` names what they may not use)",
    404: "Not found (`field` names the id)",
    409: "Conflicts with the current state (`field` names it)",
    413: "Body over MATCHING_MAX_BODY_BYTES (declared or streamed)",
    422: "A rejected input (`field` names it by its path; `detail` lists every one)",
    429: "The caller's rate budget for this route family is spent",
    500: 'Unexpected: `{"error": "InternalError", "field": null, "message": "internal error"}` '
    "and the request id, nothing else",
    503: "A dependency (named in `field`) is unreachable or too slow",
}
_HEADER = {"schema": {"type": "string"}, "required": True}
HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {**_HEADER, "description": "The scheme and the problem"}},
    429: {"Retry-After": {**_HEADER, "description": "Seconds until the budget refills"}},
    503: {"Retry-After": {**_HEADER, "description": "Seconds to wait before retrying"}},
}
REQUEST_ID_HEADER = {
    "X-Request-ID": {**_HEADER, "description": "The caller's id when sane, else a new one"}
}
# Every request passes the body guard (413, a bad query string is a 422) and may fail.
EVERY_ROUTE = (413, 422, 500)


def error_response(status: int) -> dict[str, Any]:
    """The OpenAPI response object of one error status, in the API's error shape."""
    return {
        "description": DESCRIPTIONS[status],
        "headers": {**HEADERS.get(status, {}), **REQUEST_ID_HEADER},
        "content": {"application/json": {"schema": {"$ref": ERROR_REF}}},
    }


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """A route's own error statuses, for its `responses=`."""
    return {
        status: {"model": ErrorBody, "description": DESCRIPTIONS[status]} for status in statuses
    }


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def shared_statuses(route: APIRoute) -> list[int]:
    """What any route like this one can answer, from what it depends on."""
    calls = list(_calls(route.dependant))
    statuses = list(EVERY_ROUTE)
    if get_caller in calls:  # credentials are checked; the route then reads the stores
        statuses += [401, 503]
    if any(isinstance(call, RateBudget) for call in calls):
        statuses.append(429)
    return statuses


def _document(operation: dict[str, Any], statuses: list[int]) -> None:
    responses: dict[str, Any] = operation["responses"]
    for status in statuses:
        responses[str(status)] = error_response(status)
    for code, response in responses.items():
        schema = response.get("content", {}).get("application/json", {}).get("schema", {})
        if schema.get("$ref") == ERROR_REF:
            # A route's own error statuses get the headers the error handlers send.
            response.setdefault("headers", {}).update(
                {**HEADERS.get(int(code), {}), **REQUEST_ID_HEADER}
            )
        else:
            response.setdefault("headers", {}).update(REQUEST_ID_HEADER)


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """The app's schema, with every status each operation can answer documented."""
    schema = FastAPI.openapi(app)  # FastAPI's own, with every option the app was given
    # Included routers are not flattened into app.routes: FastAPI's own walk finds them.
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        operations = schema["paths"][context.path_format]
        for method in context.methods or ():
            operation = operations[method.lower()]
            _document(operation, shared_statuses(route))
            operation["responses"] = dict(sorted(operation["responses"].items()))
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    # FastAPI's own 422 shape is never sent: the handlers answer with ErrorBody.
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    components["ErrorBody"] = ErrorBody.model_json_schema(
        ref_template="#/components/schemas/{model}"
    )
    components.update(components["ErrorBody"].pop("$defs", {}))
    return schema


def install(app: FastAPI) -> None:
    """Serve `build_openapi`'s schema at /openapi.json (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
