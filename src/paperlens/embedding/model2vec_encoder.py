"""The ``model2vec`` backend: a static distillation of the model.

``model2vec.distill`` runs every vocabulary token through the model once, reduces the
vectors to ``dims`` by PCA and weights them by Zipf; the result is cached
(:mod:`paperlens.embedding.cache`). Encoding is then a token-embedding lookup and a mean
over the whole text (no truncation), renormalised in float32. Running a prepared model
needs neither torch nor the source model; distilling does. Speed and quality:
bench/README.md (section "embedders.py").
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from paperlens.embedding import ModelCacheError, Notify, _build_key, model_label
from paperlens.embedding.cache import (
    cache_dir,
    cached_build,
    check_mean_pooling,
    log_progress,
    ready,
    require,
    source_dir,
)


def _distill(source: Path, dims: int, out: Path) -> dict[str, Any]:
    from model2vec.distill import distill
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    static = distill(str(source), pca_dims=dims, device="cpu")
    made = int(static.embedding.shape[1])
    if made != dims:
        raise ModelCacheError(
            f"model2vec_dims={dims} is more than the model's {made} dimensions; "
            f"set PAPERLENS_MODEL2VEC_DIMS to {made} or fewer"
        )
    static.max_length = None  # a static model reads the whole text
    static.save_pretrained(str(out))
    return {"dims": dims, "vocabulary": int(static.embedding.shape[0])}


def prepare_model2vec(
    model: str, models_dir: Path, dims: int = 256, notify: Notify = log_progress
) -> Path:
    """The cached model2vec distillation of ``model`` at ``dims`` dimensions."""
    require("model2vec", "model2vec")
    label = model_label(model)
    target = cache_dir(models_dir, model, f"model2vec{dims}")
    expect = {"model": label, "variant": f"model2vec{dims}"}
    if ready(target, expect) is not None:
        return target
    require("skeletoken", "model2vec")  # distilling needs it and torch; running does not
    require("torch", "model2vec")
    source = source_dir(model)
    check_mean_pooling(source, model)
    path, _ = cached_build(
        target,
        lambda out: _distill(source, dims, out),
        f"distilling {label} into a {dims}-d static model2vec model (about half a minute)",
        notify,
        expect=expect,
    )
    return path


class Model2VecEncoder:
    """A static distillation: a text's vector is the mean of its tokens' vectors. The
    whole text is used (no truncation: a longer text costs nothing worth saving)."""

    def __init__(
        self,
        model: str,
        models_dir: Path,
        *,
        dims: int = 256,
        batch_size: int = 1024,
        notify: Notify = log_progress,
    ) -> None:
        path = prepare_model2vec(model, models_dir, dims, notify)
        from model2vec import StaticModel

        self.model_name = model
        self.dims = dims
        self.batch_size = batch_size
        self.path = path
        try:
            self._model = StaticModel.from_pretrained(path, normalize=True, force_download=False)
        except Exception as exc:
            raise ModelCacheError(f"cannot load {path}: {exc}") from exc
        self._dim = int(self._model.embedding.shape[1])

    @property
    def key(self) -> str:
        return _build_key(self.model_name, "model2vec", max_seq_length=0, model2vec_dims=self.dims)

    @property
    def dim(self) -> int:
        return self._dim

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        vectors = np.asarray(
            self._model.encode(
                list(texts),
                max_length=None,
                batch_size=self.batch_size,
                use_multiprocessing=False,
            ),
            dtype=np.float32,
        )
        # Stored float16: normalise again in float32 so every vector has unit length.
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        unit: NDArray[np.float32] = (vectors / np.clip(norms, 1e-12, None)).astype(np.float32)
        return unit
