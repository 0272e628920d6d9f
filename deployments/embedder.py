"""Embedder: profile and prompt text to normalised vectors (sentence-transformers)."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
from ray import serve

from matching.core.ml import embedding
from matching.core.settings import ModelSettings, Settings


class Embedder:
    """Works without Ray; `embed` runs the model off the event loop."""

    def __init__(self, settings: ModelSettings | None = None) -> None:
        self._settings = settings or Settings.from_env().model
        path = embedding.model_path(self._settings)
        self._model = embedding.load_model(self._settings)
        self.model_version = embedding.model_version(path)
        self.dim = int(self._model.get_embedding_dimension() or 0)
        self.device = str(self._model.device)

    def encode(self, texts: list[str]) -> np.ndarray:
        return embedding.encode(self._model, texts, batch_size=self._settings.max_batch_size)

    async def embed(self, text: str) -> np.ndarray:
        return (await self.embed_many([text]))[0]

    async def embed_many(self, texts: list[str]) -> np.ndarray:
        return await asyncio.to_thread(self.encode, texts)

    def info(self) -> dict[str, Any]:
        return {"model_version": self.model_version, "dimension": self.dim, "device": self.device}

    def check_health(self) -> None:
        if self.dim <= 0:
            raise RuntimeError("embedder has no model")


class BatchingEmbedder(Embedder):
    """Inside a Serve replica: concurrent single-text calls are encoded as one batch."""

    def __init__(self, settings: ModelSettings | None = None) -> None:
        super().__init__(settings)
        batched: Any = self._batched  # serve.batch adds these setters
        batched.set_max_batch_size(self._settings.max_batch_size)
        batched.set_batch_wait_timeout_s(self._settings.batch_wait_s)

    async def embed(self, text: str) -> np.ndarray:
        result: np.ndarray = await self._batched(text)
        return result

    @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.005)
    async def _batched(self, texts: list[str]) -> list[np.ndarray]:
        return list(await self.embed_many(texts))
