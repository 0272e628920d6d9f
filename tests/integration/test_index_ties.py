"""A sparse population (many people with the same short profile text, so the same vector)
publishes its exact index: recall counts ties with the k-th true neighbour as hits."""

from __future__ import annotations

import uuid

from matching.core.ml.registry import Registry
from matching.core.settings import Settings
from tests.integration.conftest import App
from tests.support import profile_body
from training.build_index import build_index

SPARSE = {"headline": None, "bio": None, "skills": [], "interests": [], "networking_goals": []}


async def test_many_identical_profiles_publish_an_exact_index_at_recall_one(
    app: App, settings: Settings
) -> None:
    for i in range(60):  # one text, sixty people: the same embedding sixty times
        body = profile_body("Same", **SPARSE, company=f"Co {i}")
        body["company"] = None
        assert (await app.client.put(f"/v1/profiles/{uuid.uuid4()}", json=body)).status_code == 201
    for i in range(6):
        body = profile_body(f"Other {i}", bio=f"Distinct person number {i} who likes topic {i}")
        assert (await app.client.put(f"/v1/profiles/{uuid.uuid4()}", json=body)).status_code == 201
    folder, manifest = await build_index(settings, recall_queries=66, min_recall=1.0)
    assert manifest["params"]["kind"] == "flat"
    assert manifest["metrics"] == {"recall_at_10": 1.0, "recall_queries": 66}
    (listed,) = Registry.from_settings(settings).versions("index")
    assert listed["version"] == folder.name
