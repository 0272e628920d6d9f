"""The OpenAPI contract against the served app: the schema documents every status and the one
error body, and schemathesis, fuzzing every operation with credentials, finds nothing."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.e2e.conftest import KEYED, bearer
from tests.support import profile_body

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
# Bounded for 2 cores (about 20 operations, positive and negative cases each), the same
# examples every run; the deadline only catches a call that hangs.
FUZZ = settings(
    max_examples=25,
    deadline=timedelta(seconds=30),
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}
pytestmark = pytest.mark.usefixtures("fuzzed_profiles_erased")


async def _profile_ids(database_url: str) -> set[str]:
    conn = await asyncpg.connect(database_url)
    try:
        return {str(r["id"]) for r in await conn.fetch("SELECT id FROM profiles")}
    finally:
        await conn.close()


@pytest.fixture
def fuzzed_profiles_erased(served: str, database_url: str) -> Iterator[None]:
    """Profiles the fuzzer creates are erased afterwards, through the API (the index too), so
    the e2e modules after this one see the population they expect."""
    before = asyncio.run(_profile_ids(database_url))
    yield
    created = asyncio.run(_profile_ids(database_url)) - before
    with httpx.Client(base_url=f"{served}/single", headers=KEYED, timeout=60) as client:
        for uid in created:
            assert client.delete(f"/v1/profiles/{uid}").status_code in (204, 404)


@pytest.fixture
def fuzz_user(served: str) -> str:
    """A user of the pipeline composition whose token the user-scoped fuzzing carries."""
    uid = str(uuid.uuid4())
    with httpx.Client(base_url=f"{served}/pipeline", headers=KEYED, timeout=60) as client:
        response = client.put(f"/v1/profiles/{uid}", json=profile_body("Fuzz User"))
        assert response.status_code == 201, response.text
    return uid


def _fuzz(url: str, headers: dict[str, str], user: str | None = None) -> list[str]:
    """Every operation of the schema at `url`, valid and invalid cases; the findings.

    Cases are drawn in the test rather than by `@schema.parametrize()`: the schema exists only
    once the served app does, and schemathesis's fixture-based loader does not run on pytest 9.
    """
    schema = schemathesis.openapi.from_url(url, timeout=60)
    findings = []
    for result in schema.get_all_operations():
        operation = result.ok()
        # A user's own id in the path, so their calls get past the 403 to the route itself.
        fixed = {"user_id": user} if user and "{user_id}" in operation.path else None
        for mode in GenerationMode:

            @FUZZ
            @given(case=operation.as_strategy(mode, path_parameters=fixed))
            def run(case: Case) -> None:
                if user is not None:
                    _act_as(case, user)
                case.call_and_validate(headers=headers, checks=CHECKS, timeout=30)

            try:
                run()
            except Unsatisfiable:
                # Nothing to make invalid: the operation takes no parameters and no body.
                assert mode is GenerationMode.NEGATIVE, operation.label
            except (Exception, FailureGroup) as exc:  # every operation is tried, all reported
                findings.append(f"{operation.label} ({mode.value}): {exc}")
    return findings


def _act_as(case: Case, user: str) -> None:
    """The user's token decides (no generated X-API-Key) and names them where a body does."""
    if case.headers:
        case.headers.pop("X-API-Key", None)
    if isinstance(case.body, dict):
        for name in ("swiper_id", "user_id"):
            if name in case.body:
                case.body[name] = user


def test_fuzzing_as_the_platform_finds_nothing(served: str) -> None:
    findings = _fuzz(f"{served}/single/openapi.json", KEYED)
    assert not findings, "\n\n".join(findings)


def test_fuzzing_as_a_user_finds_nothing(served: str, fuzz_user: str) -> None:
    findings = _fuzz(f"{served}/pipeline/openapi.json", bearer(fuzz_user), fuzz_user)
    assert not findings, "\n\n".join(findings)


def test_every_operation_documents_its_errors(served: str) -> None:
    schema: dict[str, Any] = httpx.get(f"{served}/single/openapi.json", timeout=60).json()
    components = schema["components"]["schemas"]
    assert "HTTPValidationError" not in components
    assert components["ErrorBody"]["required"] == ["error", "field", "message"]
    operations = {
        (method.upper(), path): op
        for path, ops in schema["paths"].items()
        for method, op in ops.items()
    }
    for (method, path), op in operations.items():
        responses = op["responses"]
        for status in ("413", "422", "500"):
            assert responses[status]["content"]["application/json"]["schema"] == ERROR_REF
        assert ("401" in responses) == ("security" in op), (method, path)
        for status, response in responses.items():
            assert response["headers"]["X-Request-ID"]["required"] is True, (path, status)
    assert "WWW-Authenticate" in operations["GET", "/health"]["responses"]["401"]["headers"]
    assert "403" in operations["GET", "/health"]["responses"]
    assert (
        "Retry-After"
        in operations["GET", "/v1/users/{user_id}/discover"]["responses"]["429"]["headers"]
    )
    assert "429" not in operations["GET", "/v1/matches/{match_id}"]["responses"]
    assert {"409", "404", "403"} <= set(operations["POST", "/v1/swipes"]["responses"])
    put = operations["PUT", "/v1/profiles/{user_id}"]["responses"]
    assert put["201"]["content"] == put["200"]["content"]
    assert set(operations["DELETE", "/v1/profiles/{user_id}"]["responses"]) >= {"204", "404"}
    assert "202" in operations["POST", "/v1/analytics"]["responses"]
    ready = operations["GET", "/health/ready"]["responses"]
    assert ready["503"]["content"]["application/json"]["schema"]["$ref"].endswith("/Readiness")
    assert "401" not in ready and "Retry-After" not in ready["503"]["headers"]
