"""The ``torch`` backend: a sentence-transformers model on the CPU.

Importing this module is cheap; constructing :class:`SentenceTransformerEncoder` imports
torch and sentence-transformers and loads the model (offline: ``HF_HUB_OFFLINE`` defaults
to 1, so a model that is neither a local path nor in the local cache is
:class:`~paperlens.embedding.ModelNotFound`, never a download). torch is not part of the
default install: without the ``torch`` extra the constructor fails with
:class:`~paperlens.embedding.BackendUnavailable`, one line naming the extra.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from paperlens.embedding import BackendUnavailable, ModelNotFound, _build_key, resolve_model


class SentenceTransformerEncoder:
    """A sentence-transformers model: mean-pooled and normalised as the model says,
    texts cut at ``max_seq_length`` tokens."""

    def __init__(
        self,
        model: str,
        max_seq_length: int = 256,
        batch_size: int = 32,
        threads: int | None = None,
    ) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        try:
            import torch
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging
        except ImportError as exc:
            raise BackendUnavailable(
                "encoder backend 'torch' needs PyTorch and sentence-transformers, which "
                "the default install leaves out: pip install 'paperlens[torch]'"
            ) from exc
        if threads is not None:
            torch.set_num_threads(threads)

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
        return _build_key(
            self.model_name, "torch", max_seq_length=self.max_seq_length, model2vec_dims=0
        )

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
