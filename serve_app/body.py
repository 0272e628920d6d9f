"""Request bodies before any route sees them: a size limit, and JSON every store accepts.

PostgreSQL refuses NUL in text and jsonb, the driver cannot encode lone surrogates, and
Python's json reads NaN/Infinity (and 1e400 as inf), which jsonb and comparisons cannot take.
One check over the parsed body rejects all of these, typed fields and free-form objects alike,
with a 422 naming the field by its JSON path; a chunked body is counted as it arrives.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from matching.core.api.errors import PayloadTooLarge, error_response, validation_body

_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")


class BodyGuard:
    """413 over `limit` bytes (declared or streamed); 422 for JSON the stores cannot hold."""

    def __init__(self, app: ASGIApp, limit: int, max_depth: int) -> None:
        self.app, self.limit, self.max_depth = app, limit, max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._too_large(scope, receive, send)
            return
        body = await self._read(receive)
        if body is None:
            await self._too_large(scope, receive, send)
            return
        problem = _query_problem(scope.get("query_string", b""))
        if problem is None and body and _is_json(headers.get(b"content-type")):
            problem = json_problem(body, self.max_depth)
        if problem is not None:
            await error_response(validation_body(*problem), 422, scope)(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    async def _read(self, receive: Receive) -> bytes | None:
        """The whole body, or None once it passes the limit (the rest is never read)."""
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return b"".join(chunks)
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.limit:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = PayloadTooLarge("body", f"body: larger than {self.limit} bytes")
        await error_response(error.body(), 413, scope)(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the app the body already read, then the client's own messages."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _is_json(content_type: bytes | None) -> bool:
    # FastAPI parses a body without a content type as JSON too.
    if content_type is None:
        return True
    kind = content_type.split(b";", 1)[0].strip().lower()
    return kind == b"application/json" or (
        kind.startswith(b"application/") and kind.endswith(b"+json")
    )


def _query_problem(query: bytes) -> tuple[str, str, str] | None:
    for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            return _clean(name), "must not contain NUL characters", "string_nul"
    return None


def json_problem(body: bytes, max_depth: int) -> tuple[str, str, str] | None:
    """(field, message, type) of the first thing in a JSON body the service refuses."""
    try:
        value = json.loads(body)
    except RecursionError:
        return "body", f"nested deeper than {max_depth} levels", "json_too_deep"
    except json.JSONDecodeError as exc:
        return "body", f"invalid JSON at position {exc.pos}: {exc.msg}", "json_invalid"
    except UnicodeDecodeError:
        return "body", "not UTF-8 text", "json_invalid"
    except ValueError:  # an integer longer than Python converts (4300 digits)
        return "body", "a number too long to read", "json_invalid"
    return _walk(value, max_depth)


def _walk(root: Any, max_depth: int) -> tuple[str, str, str] | None:
    # Iterative, so a deep document cannot exhaust the stack here.
    stack: list[tuple[Any, tuple[str, ...]]] = [(root, ())]
    while stack:
        value, path = stack.pop()
        if isinstance(value, dict | list) and len(path) >= max_depth:
            return _path(path), f"nested deeper than {max_depth} levels", "json_too_deep"
        if isinstance(value, dict):
            for key in value:
                if _BAD_TEXT.search(key):
                    return _path((*path, _clean(key))), _text_message(key), "string_unicode"
            # Pushed last to first, so the first problem in document order is the one named.
            stack.extend((value[k], (*path, k)) for k in reversed(list(value)))
        elif isinstance(value, list):
            stack.extend((value[i], (*path, str(i))) for i in reversed(range(len(value))))
        elif isinstance(value, str) and _BAD_TEXT.search(value):
            return _path(path), _text_message(value), "string_unicode"
        elif isinstance(value, float) and not math.isfinite(value):
            return _path(path), "must be a finite number, not NaN or Infinity", "finite_number"
    return None


def _text_message(text: str) -> str:
    if "\x00" in text:
        return "must not contain NUL characters"
    return "must be valid Unicode (a lone surrogate is not)"


def _clean(name: str) -> str:
    """A key fit to echo as a field name (its bad characters replaced)."""
    return _BAD_TEXT.sub("\ufffd", name)


def _path(path: tuple[str, ...]) -> str:
    return ".".join(path) or "body"
