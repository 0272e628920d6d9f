"""Population vectors without the model: the benchmarks' one way to embed many people.

The real model embeds ~320 texts/s on this machine, so 1M profiles would take an hour;
the benchmarks measure serving, not embedding, and need vectors with the model's shape and
version whose neighbours mean something. Each word of a profile text gets a fixed random
direction (seeded by the word, so runs and processes agree) and a text is the normalised sum
of its words' directions: people who share interests, industry or city share directions,
which gives FAISS the clustered structure real embeddings have (uniform random vectors would
flatter HNSW's recall).
"""

from __future__ import annotations

import hashlib
import re

import numpy as np
from scipy import sparse

from matching.core.ml.embedding import model_path, model_version
from matching.core.settings import ModelSettings

DIM = 384  # all-MiniLM-L6-v2's
_WORD = re.compile(r"[a-z0-9]+")


class WordSumEncoder:
    """A TextEncoder that stamps the configured model's version on word-sum vectors."""

    def __init__(self, settings: ModelSettings, dim: int = DIM) -> None:
        self.model_version = model_version(model_path(settings))
        self._dim = dim
        self._vocab: dict[str, int] = {}
        self._directions = np.zeros((0, dim), dtype=np.float32)

    def encode(self, texts: list[str]) -> np.ndarray:
        """L2-normalised float32 rows, one per text."""
        rows, cols = [], []
        for i, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                rows.append(i)
                cols.append(self._word(word))
        counts = sparse.csr_matrix(
            (np.ones(len(rows), dtype=np.float32), (rows, cols)),
            shape=(len(texts), len(self._vocab)),
        )
        vectors = np.asarray(counts @ self._directions[: len(self._vocab)], dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.ascontiguousarray(vectors / np.maximum(norms, 1e-12))

    def _word(self, word: str) -> int:
        at = self._vocab.get(word)
        if at is None:
            at = self._vocab[word] = len(self._vocab)
            seed = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest())
            direction = np.random.default_rng(seed).standard_normal(self._dim, dtype=np.float32)
            if at >= len(self._directions):  # grow by doubling, not per word
                grown = np.zeros((max(1024, 2 * at), self._dim), dtype=np.float32)
                grown[: len(self._directions)] = self._directions
                self._directions = grown
            self._directions[at] = direction
        return at
