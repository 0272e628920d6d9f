"""Kafka request/reply: a request on KAFKA_REQUESTS_TOPIC is ranked by the same service as
HTTP and answered on its `reply_to` (KAFKA_REPLIES_TOPIC by default) with its
`correlation_id`, keyed by request id. The reply is an outbox event written in the
transaction that stores the result, together with the record's inbox row, so a stored result
always gets its reply and a redelivered record is answered from what was stored.

Invalid requests get a `match.error` on KAFKA_REQUEST_ERRORS_TOPIC (code, reason, ids; never
the payload); records that are not JSON objects, and records that keep failing, are
dead-lettered there by the consumer loop after its bounded retries.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import asyncpg
from pydantic import ValidationError

from matching.core import metrics
from matching.core.api.errors import DependencyUnavailable
from matching.core.events.consumer import Outcome, Record, Rejected, Transient, scrub_error
from matching.core.settings import KafkaSettings, RequestsSettings
from matching.core.storage import inbox
from matching.core.storage.outbox import enqueue
from matching.requests.schemas import MatchRequest
from matching.requests.service import RequestService
from matching.requests.storage import requests as store
from matching.requests.storage.requests import StoredRequest

MATCH_REQUEST = "match.request"
ENVELOPE = ("correlation_id", "reply_to", "event_type", "event_id", "timestamp")
_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
KAFKA_REQUESTER = "kafka"


def decode_request(value: bytes | None) -> dict[str, Any]:
    """The record's JSON object, typed as a match request (the topic carries nothing else)."""
    if value is None:
        raise Rejected("malformed_json", "the record has no value")
    try:
        event = json.loads(value)
    except (ValueError, RecursionError) as exc:
        raise Rejected("malformed_json", str(exc)) from exc
    if not isinstance(event, dict):
        raise Rejected("malformed_json", f"expected a JSON object, got {type(event).__name__}")
    return {**event, "event_type": MATCH_REQUEST}


def consumer_settings(kafka: KafkaSettings, requests: RequestsSettings) -> KafkaSettings:
    """The service's Kafka connection, reading the requests topic in its own group."""
    return kafka.model_copy(
        update={
            "consumed_topics": requests.requests_topic,
            "consumer_group": requests.consumer_group,
            "errors_topic": requests.errors_topic,
        }
    )


def _message_id(record: Record, request_id: Any, correlation_id: str | None) -> str:
    """The inbox id of a request record: its request and correlation ids when it names a
    request (the same ask sent twice is one message), else its position."""
    if isinstance(request_id, str) and 0 < len(request_id) <= 200:
        return f"{MATCH_REQUEST}:{request_id}:{(correlation_id or '')[:180]}"
    return inbox.message_id(None, record.topic, record.partition, record.offset)


def record_reply_lag(record: Record) -> None:
    """The time from the request record's timestamp to its reply stored (the outbox
    publishes it; the outbox's age covers that part). A record without a timestamp (-1)
    is not measured."""
    if record.timestamp >= 0:
        lag = max(0.0, time.time() - record.timestamp / 1000)
        metrics.observe("matching_kafka_reply_lag_seconds", lag)


def _text(value: Any, limit: int = 200) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


class RequestHandler:
    """The consumer's handler of match requests."""

    def __init__(self, service: RequestService, pool: asyncpg.Pool) -> None:
        self._service = service
        self._pool = pool
        self._settings = service.settings

    def as_mapping(self) -> dict[str, Any]:
        return {MATCH_REQUEST: self.handle}

    async def handle(self, record: Record, event: dict[str, Any]) -> Outcome:
        correlation_id = _text(event.get("correlation_id"))
        reply_to = event.get("reply_to") or self._settings.replies_topic
        body = {k: v for k, v in event.items() if k not in ENVELOPE}
        problem = None if isinstance(reply_to, str) and _TOPIC.match(reply_to) else "reply_to"
        try:
            request = MatchRequest.model_validate(body)
        except ValidationError as exc:
            problem = scrub_error(str(exc))[:1000]
        position = _message_id(record, body.get("request_id"), correlation_id)
        if problem is not None:
            error = {"code": "invalid_request", "reason": problem}
            return await self._error(
                record, position, _text(body.get("request_id")), correlation_id, error
            )
        request_id = (
            request.request_id or f"kafka-{record.topic}-{record.partition}-{record.offset}"
        )
        requester = str(request.requester_id) if request.requester_id else KAFKA_REQUESTER
        data = request.model_dump(mode="json") | {"request_id": request_id}
        async with self._pool.acquire() as conn:
            if await inbox.seen(conn, position):
                return Outcome(applied=False)
            _, stored = await store.claim(
                conn, request_id, requester, data, reply_to, correlation_id
            )
        if stored.requester != requester:
            error = {
                "code": "request_id_conflict",
                "reason": "request_id: used by another requester",
            }
            return await self._error(record, position, request_id, correlation_id, error)
        ours = stored.correlation_id == correlation_id and stored.reply_to == reply_to
        if stored.status == "pending":
            if not ours:  # another sender's request, still being ranked: wait for it
                raise Transient(f"request {request_id} is being ranked elsewhere")
            return await self._finish(record, position, stored)
        return await self._answer(record, position, stored, ours, reply_to, correlation_id)

    async def _finish(self, record: Record, position: str, stored: StoredRequest) -> Outcome:
        """Rank a request this record claimed (now, or before a crash) and reply."""
        request = MatchRequest.model_validate(stored.body)
        try:
            result = await self._service.result_for(stored.request_id, request, "kafka")
        except DependencyUnavailable as exc:
            raise Transient(str(exc)) from exc
        async with self._pool.acquire() as conn, conn.transaction():
            if not await inbox.claim(
                conn, position, record.topic, record.partition, record.offset, MATCH_REQUEST
            ):
                return Outcome(applied=False)
            if not await store.complete(conn, stored, result):
                # completed meanwhile (the maintenance pass): it replied to this record's reply_to
                return Outcome(applied=True)
        record_reply_lag(record)
        await self._service.cache.put(stored.request_id, stored.requester, result)
        return Outcome(applied=True)

    async def _answer(
        self,
        record: Record,
        position: str,
        stored: StoredRequest,
        ours: bool,
        reply_to: str,
        correlation_id: str | None,
    ) -> Outcome:
        """A request id already settled: reply from what is stored, never ranking again."""
        async with self._pool.acquire() as conn, conn.transaction():
            if not await inbox.claim(
                conn, position, record.topic, record.partition, record.offset, MATCH_REQUEST
            ):
                return Outcome(applied=False)
            if ours:  # this record's own reply went out with its result
                return Outcome(applied=True)
            if stored.status == "completed":
                payload = {
                    **store.reply_payload(stored, stored.result),
                    "correlation_id": correlation_id,
                }
                await enqueue(conn, reply_to, stored.request_id, store.MATCH_RESPONSE, payload)
            else:
                await store.enqueue_error(
                    conn,
                    self._settings.errors_topic,
                    stored.request_id,
                    correlation_id,
                    stored.error or {},
                )
        if stored.status == "completed":
            record_reply_lag(record)
        return Outcome(applied=True)

    async def _error(
        self,
        record: Record,
        position: str,
        request_id: str | None,
        correlation_id: str | None,
        error: dict[str, str],
    ) -> Outcome:
        async with self._pool.acquire() as conn, conn.transaction():
            if not await inbox.claim(
                conn, position, record.topic, record.partition, record.offset, MATCH_REQUEST
            ):
                return Outcome(applied=False)
            await store.enqueue_error(
                conn, self._settings.errors_topic, request_id, correlation_id, error
            )
        return Outcome(applied=True)
