"""The model registry as the admin API shows it."""

from __future__ import annotations

import asyncio
from typing import Any

from matching.core.api.resources import Resources
from matching.core.ml.registry import Registry


async def describe_models(resources: Resources) -> dict[str, Any]:
    """The registry's versions and live pointer, and what this replica's stages serve."""
    registry = Registry.from_settings(resources.settings)
    described = await asyncio.to_thread(registry.describe)
    described["serving"] = {
        "reranker": await resources.reranker.info.remote(),
        "retriever": await resources.retriever.info.remote(),
    }
    return described
