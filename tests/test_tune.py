"""Domain adaptation of the bundled model on a corpus's own papers
(``paperlens.embedding.tune``, measured by bench/tune.py; the torch extra, which the dev
extra includes).

One real, tiny tuning run per session (three steps on a dozen sample papers, short
texts); the tuned model then loads and encodes on torch and on the default int8 backend.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from corpus import sample_records
from paperlens.config import Settings
from paperlens.embedding import build_encoder, resolve_model
from paperlens.embedding.sentence_transformer import SentenceTransformerEncoder
from paperlens.embedding.tune import TuneConfig, training_pairs, tune
from paperlens.text import strip_latex

TEXTS = ["Graph neural networks for molecules", "The meter of medieval French lyric poetry"]
TINY = TuneConfig(batch_size=4, max_seq_length=32, max_steps=3)


def papers(n: int = 12) -> list[tuple[str, str]]:
    return [(r["title"], r["abstract"]) for r in sample_records("ml-abstracts-1000", limit=n)]


@pytest.fixture(scope="session")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    """The bundled model tuned for three steps on a dozen sample papers."""
    out = tmp_path_factory.mktemp("tune") / "model"
    facts = tune(resolve_model("bundled"), training_pairs(papers()), out, TINY, threads=1)
    return out, facts


def test_a_tiny_run_reports_what_it_did(tuned: tuple[Path, dict[str, object]]) -> None:
    path, facts = tuned
    assert facts["steps"] == 3 and facts["pairs"] == len(training_pairs(papers()))
    assert (path / "model.safetensors").is_file() and (path / "modules.json").is_file()


def test_the_tuned_model_loads_and_encodes_unlike_its_source(
    tuned: tuple[Path, dict[str, object]],
) -> None:
    path, _ = tuned
    mine = SentenceTransformerEncoder(str(path), max_seq_length=64)
    vectors = mine.encode(TEXTS)
    assert vectors.shape == (2, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    source = SentenceTransformerEncoder("all-MiniLM-L6-v2", max_seq_length=64).encode(TEXTS)
    moved = (vectors * source).sum(axis=1)
    assert (moved < 1 - 1e-6).all()  # training changed the weights...
    assert (moved > 0.9).all()  # ...a little: 3 steps at a small learning rate
    assert mine.key.startswith(str(path))  # its vectors never mix with the source's


def test_the_tuned_model_runs_on_the_default_int8_backend(
    tuned: tuple[Path, dict[str, object]], tmp_path: Path
) -> None:
    """Exported and quantized like any local model (sentence-transformers 6 saves its
    modules under new names and one ``pooling_mode``: the same mean pooling)."""
    path, _ = tuned
    settings = Settings(data_dir=tmp_path, model=str(path), encoder_backend="onnx-int8")
    int8 = build_encoder(settings).encode(TEXTS)
    full = SentenceTransformerEncoder(str(path)).encode(TEXTS)
    assert int8.shape == full.shape
    assert ((int8 * full).sum(axis=1) > 0.98).all()
    assert (tmp_path / "models").is_dir()  # derived under the data dir


def test_training_pairs_come_from_titles_and_sentences() -> None:
    given = papers(20)
    pairs = training_pairs(given)
    assert pairs == training_pairs(given)  # seeded
    titles = {strip_latex(t).strip(): strip_latex(a).strip() for t, a in given}
    titled = [p for p in pairs if p[0] in titles]
    assert len(titled) == len(given) and all(titles[t] == a for t, a in titled)
    sentences = [p for p in pairs if p[0] not in titles]
    assert sentences and all(s not in rest for s, rest in sentences)
    assert sorted(training_pairs(given, ("title",))) == sorted(titled)
    with pytest.raises(ValueError, match="pairs must be among"):
        training_pairs(given, ("citations",))


def test_bad_input_is_a_clear_error(tmp_path: Path) -> None:
    source = resolve_model("bundled")
    one = training_pairs(papers(1), ("title",))
    with pytest.raises(ValueError, match="at least 2 text pairs"):
        tune(source, one, tmp_path / "a", TINY)
    with pytest.raises(ValueError, match="batch_size must be at least 2"):
        tune(source, training_pairs(papers(4)), tmp_path / "b", TuneConfig(batch_size=1))
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_without_torch_it_fails_in_one_line(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from pathlib import Path\n"
        "from paperlens.embedding import BackendUnavailable\n"
        "from paperlens.embedding.tune import tune\n"
        "try:\n"
        f"    tune('x', [('a', 'b'), ('c', 'd')], Path({str(tmp_path)!r}))\n"
        "except BackendUnavailable as exc:\n"
        "    print(exc)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERLENS_")}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("\n") == 1
    assert "needs torch" in proc.stdout and "pip install 'paperlens[torch]'" in proc.stdout
