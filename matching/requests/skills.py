"""Skill names that mean the same skill: by name, by acronym, or by embedding similarity.

Each distinct name is embedded once per replica (the Embedder does the work; this keeps the
vectors), so a catalogue of 10,000 providers with a few hundred distinct skills costs a few
hundred embeddings once, and a request only its own few names.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence

import numpy as np

from matching.requests.schemas import LEVELS

EmbedMany = Callable[[list[str]], Awaitable[np.ndarray]]
_SUFFIX = re.compile(r"(\.js|js)$")
_WORD = re.compile(r"[a-z0-9]+")


def normal(name: str) -> str:
    """The comparable form: case-folded, spaces squeezed, a trailing ".js" dropped."""
    folded = " ".join(name.casefold().split())
    stripped = _SUFFIX.sub("", folded).strip()
    return stripped or folded


def _initials(name: str) -> str:
    words = _WORD.findall(name)
    return "".join(w[0] for w in words) if len(words) > 1 else ""


def level_index(level: str) -> int:
    return LEVELS.index(level)


class SkillVectors:
    """The embedding of each distinct normal skill name, computed once and kept."""

    def __init__(self, embed_many: EmbedMany) -> None:
        self._embed_many = embed_many
        self._vectors: dict[str, np.ndarray] = {}

    async def vectors(self, names: Sequence[str]) -> np.ndarray:
        """Rows for `names` (already normal), embedding only the ones not seen before."""
        missing = sorted({n for n in names if n not in self._vectors})
        if missing:
            found = await self._embed_many(missing)
            for name, vector in zip(missing, found, strict=True):
                self._vectors[name] = np.asarray(vector, dtype=np.float32)
        if not names:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([self._vectors[n] for n in names])

    def __len__(self) -> int:
        return len(self._vectors)


def same_skill(
    wanted: Sequence[str],
    wanted_vectors: np.ndarray,
    vocab: Sequence[str],
    vocab_vectors: np.ndarray,
    threshold: float,
) -> np.ndarray:
    """(len(wanted), len(vocab)) bool: which catalogue names are each wanted skill."""
    if not wanted or not vocab:
        return np.zeros((len(wanted), len(vocab)), dtype=bool)
    same = (wanted_vectors @ vocab_vectors.T) >= threshold
    names: dict[str, list[int]] = {}
    inits: dict[str, list[int]] = {}
    for j, v in enumerate(vocab):
        for key in {v, _compact(v)}:
            names.setdefault(key, []).append(j)
        if initials := _initials(v):
            inits.setdefault(initials, []).append(j)
    for i, w in enumerate(wanted):
        short = _compact(w)
        hits = names.get(w, []) + names.get(short, []) + names.get(_initials(w) or "\0", [])
        if 2 <= len(short) <= 6:  # "ml" is what "machine learning" abbreviates to
            hits += inits.get(short, [])
        same[i, hits] = True
    return same


def _compact(name: str) -> str:
    return name.replace(".", "").replace(" ", "")
