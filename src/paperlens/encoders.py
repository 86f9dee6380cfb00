"""Faster encoder backends, derived offline from a local sentence-transformers model.

* ``onnx`` / ``onnx-int8``: the transformer exported once to ONNX with
  ``torch.onnx.export`` (int8: ``onnxruntime.quantization.quantize_dynamic``, per-channel
  weights), run by onnxruntime on tokens from the model's own ``tokenizer.json``, then
  mean pooling over the attention mask and L2 normalisation — what sentence-transformers
  does for a (Transformer, mean Pooling, Normalize) model, so fp32 vectors match torch's.
* ``model2vec``: a static distillation (``model2vec.distill``: every vocabulary token
  through the model once, PCA to ``dims``, Zipf weighting); encoding is a token-embedding
  lookup and a mean.

Each derived model is cached under ``data_dir/models/<model>/<variant>/``, built in a
temporary directory next to it and renamed into place, with a ``paperlens.json``
manifest (written last) naming every file's size and SHA-256. A directory whose manifest
is missing or whose files do not match it is a partial or corrupt build: it is rebuilt.
Nothing is downloaded: the source is the bundled model or another local model.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from paperlens.embedding import (
    BackendUnavailable,
    ModelNotFound,
    encoder_key,
    model_label,
    resolve_model,
)

log = logging.getLogger(__name__)

Notify = Callable[[str], None]

MANIFEST = "paperlens.json"
#: Bump when the layout or the way files are made changes: older caches are rebuilt.
CACHE_FORMAT = 1
ONNX_OPSET = 17
_SUPPORTED_MODULES = {
    "sentence_transformers.models.Transformer",
    "sentence_transformers.models.Pooling",
    "sentence_transformers.models.Normalize",
}


class ModelCacheError(RuntimeError):
    """A derived model could not be built or loaded."""


def _log(message: str) -> None:
    log.info(message)


def usable_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


# -- the cache -------------------------------------------------------------------------------


def cache_dir(models_dir: Path, model: str, variant: str) -> Path:
    """``models_dir/<model>/<variant>``, the model name made safe for a path."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", model_label(model)).strip("_.") or "model"
    return models_dir / slug / variant


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(path: Path) -> dict[str, Any] | None:
    """The manifest of a complete, intact cache directory, else None."""
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("format") != CACHE_FORMAT:
        return None
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        return None
    for name, meta in files.items():
        file = path / name
        try:
            if file.stat().st_size != meta["size"] or _sha256(file) != meta["sha256"]:
                return None
        except (OSError, KeyError, TypeError):
            return None
    return manifest


def cached_build(
    target: Path,
    build: Callable[[Path], dict[str, Any]],
    describe: str,
    notify: Notify = _log,
    expect: dict[str, Any] | None = None,
) -> tuple[Path, dict[str, Any]]:
    """The cache directory ``target``, built first by ``build(tmp_dir)`` unless a complete
    one is there. ``build`` writes its files into ``tmp_dir`` and returns facts for the
    manifest; the directory is renamed into place only once complete."""
    manifest = read_manifest(target)
    if manifest is not None and all(manifest.get(k) == v for k, v in (expect or {}).items()):
        return target, manifest
    if target.exists():
        notify(f"{target} is incomplete, corrupt or stale: building it again")
        shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    notify(f"{describe} (once) into {target}")
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        facts = build(tmp)
        files = {
            f.name: {"size": f.stat().st_size, "sha256": _sha256(f)}
            for f in sorted(tmp.iterdir())
            if f.is_file()
        }
        manifest = {
            "format": CACHE_FORMAT,
            "created": datetime.now(UTC).replace(microsecond=0).isoformat(),
            **(expect or {}),
            **facts,
            "files": files,
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        tmp.chmod(0o755)  # mkdtemp's 0700 is for the build, not for the result
        try:
            os.rename(tmp, target)
        except OSError:
            # Another process published the same directory first: use theirs if sound.
            theirs = read_manifest(target)
            if theirs is None:
                raise
            return target, theirs
        return target, manifest
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# -- the source model ---------------------------------------------------------------------


def source_dir(model: str) -> Path:
    """The local directory of a model: the bundled one, a path, or the offline HF cache."""
    name = resolve_model(model)
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(name, local_files_only=True))
    except Exception as exc:
        raise ModelNotFound(
            f"cannot load embedding model {model!r}: not a local directory, and not in the "
            "offline Hugging Face cache"
        ) from exc


def check_mean_pooling(source: Path, model: str) -> None:
    """The ONNX and model2vec backends reproduce Transformer + mean pooling (+ Normalize)."""
    modules_file = source / "modules.json"
    if not modules_file.exists():
        return  # a plain transformers model: sentence-transformers mean-pools it too
    modules = json.loads(modules_file.read_text(encoding="utf-8"))
    kinds = {m.get("type", "") for m in modules}
    pooling = next((m for m in modules if m.get("type", "").endswith(".Pooling")), None)
    mean = True
    if pooling is not None:
        config_file = source / pooling.get("path", "") / "config.json"
        if config_file.exists():
            config = json.loads(config_file.read_text(encoding="utf-8"))
            modes = {k for k, v in config.items() if k.startswith("pooling_mode_") and v}
            mean = modes == {"pooling_mode_mean_tokens"}
    if not kinds <= _SUPPORTED_MODULES or not mean:
        raise BackendUnavailable(
            f"model {model!r} is not a mean-pooled sentence-transformers model; "
            "use encoder_backend=torch for it"
        )


def _pad_id(source: Path, tokenizer: Any) -> int:
    config_file = source / "tokenizer_config.json"
    pad_name = "[PAD]"
    if config_file.exists():
        pad = json.loads(config_file.read_text(encoding="utf-8")).get("pad_token")
        if isinstance(pad, dict):
            pad = pad.get("content")
        pad_name = pad or pad_name
    found = tokenizer.token_to_id(pad_name)
    return int(found) if found is not None else 0


# -- ONNX ---------------------------------------------------------------------------------


def _export_onnx(source: Path, out: Path) -> dict[str, Any]:
    """``out/model.onnx`` (the transformer, ``last_hidden_state`` out) and its tokenizer."""
    import torch
    from tokenizers import Tokenizer
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    model = AutoModel.from_pretrained(source, attn_implementation="eager").eval()
    names = ["input_ids", "attention_mask"]
    if "token_type_ids" in inspect.signature(model.forward).parameters:
        names.append("token_type_ids")

    class LastHidden(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *inputs: Any) -> Any:
            return self.inner(**dict(zip(names, inputs, strict=True))).last_hidden_state

    # Trace with a padded row, so nothing specific to an all-ones mask is baked in.
    ids = torch.tensor([[101, 2023, 2003, 1037, 3231, 102], [101, 3231, 102, 0, 0, 0]])
    mask = (ids != 0).long()
    example = (ids, mask, torch.zeros_like(ids))[: len(names)]
    axes = {n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            LastHidden(model),
            example,
            str(out / "model.onnx"),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=ONNX_OPSET,
            dynamo=False,
        )
    shutil.copyfile(source / "tokenizer.json", out / "tokenizer.json")
    tokenizer = Tokenizer.from_file(str(source / "tokenizer.json"))
    return {"inputs": names, "pad_id": _pad_id(source, tokenizer)}


def _quantize(fp32_dir: Path, fp32: dict[str, Any], out: Path) -> dict[str, Any]:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.disable(logging.WARNING)  # "consider pre-processing": not needed for MatMuls
    try:
        quantize_dynamic(
            fp32_dir / "model.onnx",
            out / "model.onnx",
            weight_type=QuantType.QInt8,
            per_channel=True,  # mean cosine to fp32 0.995 here, 0.95 per tensor
        )
    finally:
        logging.disable(logging.NOTSET)
    shutil.copyfile(fp32_dir / "tokenizer.json", out / "tokenizer.json")
    return {"inputs": fp32["inputs"], "pad_id": fp32["pad_id"], "quantization": "int8"}


def _require(module: str, backend: str) -> None:
    try:
        __import__(module)
    except ImportError as exc:
        raise BackendUnavailable(
            f"encoder backend {backend!r} needs {module}: pip install 'paperlens[encoders]'"
        ) from exc


def ready(target: Path, expect: dict[str, Any]) -> dict[str, Any] | None:
    """The manifest of ``target`` if it is complete, intact and what ``expect`` says."""
    manifest = read_manifest(target)
    if manifest is None or any(manifest.get(k) != v for k, v in expect.items()):
        return None
    return manifest


def onnx_model(
    model: str, models_dir: Path, *, quantized: bool = False, notify: Notify = _log
) -> tuple[Path, dict[str, Any]]:
    """The cached ONNX export of ``model`` (int8 when ``quantized``) and its manifest,
    made if missing. Running a prepared one needs neither torch nor the source model."""
    backend = "onnx-int8" if quantized else "onnx"
    _require("onnxruntime", backend)
    label = model_label(model)
    target = cache_dir(models_dir, model, backend)
    expect = {"model": label, "variant": backend}
    manifest = ready(target, expect)
    if manifest is not None:
        return target, manifest
    _require("onnx", backend)  # exporting and quantizing need it; running does not
    source = source_dir(model)
    check_mean_pooling(source, model)
    fp32, fp32_manifest = cached_build(
        cache_dir(models_dir, model, "onnx"),
        lambda out: _export_onnx(source, out),
        f"exporting {label} to ONNX",
        notify,
        expect={"model": label, "variant": "onnx"},
    )
    if not quantized:
        return fp32, fp32_manifest
    return cached_build(
        target,
        lambda out: _quantize(fp32, fp32_manifest, out),
        f"quantizing {label} to int8",
        notify,
        expect=expect,
    )


def prepare_onnx(
    model: str, models_dir: Path, *, quantized: bool = False, notify: Notify = _log
) -> Path:
    """The directory of the cached ONNX export of ``model``, made if missing."""
    return onnx_model(model, models_dir, quantized=quantized, notify=notify)[0]


def mean_pool_normalise(hidden: NDArray[Any], mask: NDArray[Any]) -> NDArray[np.float32]:
    """sentence-transformers' mean pooling (masked mean, denominator at least 1e-9) and
    ``Normalize`` (L2, norm at least 1e-12)."""
    weights = mask[..., None].astype(np.float32)
    summed = (hidden.astype(np.float32) * weights).sum(axis=1)
    pooled = summed / np.clip(weights.sum(axis=1), 1e-9, None)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    unit: NDArray[np.float32] = (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)
    return unit


class OnnxEncoder:
    """The exported transformer on onnxruntime; same vectors as torch (fp32) or close
    (int8). Texts are sorted by length and padded per batch, as sentence-transformers does."""

    def __init__(
        self,
        model: str,
        models_dir: Path,
        *,
        quantized: bool = False,
        max_seq_length: int = 256,
        batch_size: int = 32,
        threads: int | None = None,
        notify: Notify = _log,
    ) -> None:
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        path, manifest = onnx_model(model, models_dir, quantized=quantized, notify=notify)
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.model_name = model
        self.backend = "onnx-int8" if quantized else "onnx"
        self.max_seq_length = max_seq_length
        self.batch_size = batch_size
        self.path = path
        self._inputs: list[str] = list(manifest["inputs"])
        self._pad_id = int(manifest["pad_id"])
        self._tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self._tokenizer.no_padding()  # padded per batch below
        self._tokenizer.enable_truncation(max_length=max_seq_length)
        options = ort.SessionOptions()
        # One process, all the CPUs it may use; no second pool fighting the first.
        options.intra_op_num_threads = threads or usable_cpus()
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(
                str(path / "model.onnx"), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelCacheError(f"cannot load {path / 'model.onnx'}: {exc}") from exc
        self._dim = int(self.encode(["dimension probe"]).shape[1])

    @property
    def key(self) -> str:
        return encoder_key(self.model_name, self.max_seq_length, self.backend)

    @property
    def dim(self) -> int:
        return self._dim

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        encodings = self._tokenizer.encode_batch(list(texts))
        lengths = np.array([len(e.ids) for e in encodings])
        order = np.argsort(-lengths, kind="stable")
        out: NDArray[np.float32] | None = None
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            width = int(lengths[rows].max())
            ids = np.full((len(rows), width), self._pad_id, dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                ids[r, : lengths[i]] = encodings[i].ids
                mask[r, : lengths[i]] = 1
            feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            hidden = self._session.run(["last_hidden_state"], {n: feeds[n] for n in self._inputs})[
                0
            ]
            vectors = mean_pool_normalise(np.asarray(hidden), mask)
            if out is None:
                out = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)
            out[rows] = vectors
        assert out is not None
        return out


# -- model2vec ------------------------------------------------------------------------------


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


def prepare_model2vec(model: str, models_dir: Path, dims: int = 256, notify: Notify = _log) -> Path:
    """The cached model2vec distillation of ``model`` at ``dims`` dimensions."""
    _require("model2vec", "model2vec")
    label = model_label(model)
    target = cache_dir(models_dir, model, f"model2vec{dims}")
    expect = {"model": label, "variant": f"model2vec{dims}"}
    if ready(target, expect) is not None:
        return target
    _require("skeletoken", "model2vec")  # distilling needs it; running does not
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
        notify: Notify = _log,
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
        return encoder_key(self.model_name, 0, "model2vec", model2vec_dims=self.dims)

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


def prepare(
    backend: str, model: str, models_dir: Path, *, dims: int = 256, notify: Notify = _log
) -> Path | None:
    """Build the cached model ``backend`` needs ahead of use (None for torch)."""
    if backend == "torch":
        return None
    if backend in ("onnx", "onnx-int8"):
        return prepare_onnx(model, models_dir, quantized=backend == "onnx-int8", notify=notify)
    if backend == "model2vec":
        return prepare_model2vec(model, models_dir, dims, notify)
    raise ValueError(f"unknown encoder backend {backend!r}")
