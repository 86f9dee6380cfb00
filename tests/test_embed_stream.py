"""The overlapped embed step: ``OnnxEncoder.encode_stream`` and ``embed_pending``.

The real shipped int8 model and a real SQLite store throughout. Overlapping (the model
runs the next batch while the current one is stored) must change no vector, keep every
stored batch durable when a run fails partway, and leave no model thread behind.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from corpus import sample_records, write_jsonl
from paperlens.config import Settings
from paperlens.core import PaperLens
from paperlens.embedding.onnx_encoder import OnnxEncoder
from paperlens.indexer import embed_pending, encode_chunks
from paperlens.sources.snapshot import SnapshotSource
from paperlens.store.embeddings import EmbeddingStore

MODEL = "all-MiniLM-L6-v2"
NOWHERE = Path("/nonexistent")
RECORDS = sample_records("arxiv-snapshot-sample", limit=70)
TEXTS = [f"{r['title']}. {r['abstract']}" for r in RECORDS]
BATCH = 16  # papers per store batch in these tests: 70 papers make 5 batches


def encode_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("paperlens-encode")]


@pytest.fixture(scope="module")
def encoder() -> OnnxEncoder:
    return OnnxEncoder(MODEL, NOWHERE, quantized=True, workers=2)


class Failing(OnnxEncoder):
    """The real encoder, whose model call fails for a batch holding one given text."""

    poison: list[int] = []  # noqa: RUF012 (set per test)
    calls = 0

    def _call(self, ids: list[list[int]]) -> NDArray[np.float32]:
        Failing.calls += 1
        if any(row == self.poison for row in ids):
            raise RuntimeError("model call failed")
        return super()._call(ids)


class FailingPuts(EmbeddingStore):
    """The real SQLite embedding store, whose ``put`` fails from the ``fail_at``-th on."""

    def __init__(self, store: EmbeddingStore, fail_at: int) -> None:
        super().__init__(store.engine)
        self.puts = 0
        self.fail_at = fail_at

    def put(self, model: str, rows: list[tuple[int, str, NDArray[np.float32]]]) -> int:  # type: ignore[override]
        self.puts += 1
        if self.puts >= self.fail_at:
            raise OSError("disk full")
        return super().put(model, rows)


def test_a_stream_gives_each_chunk_what_encode_gives_it(encoder: OnnxEncoder) -> None:
    """Chunks of any size (empty and single-text ones too), bit for bit and in order,
    and what one call at a time on every CPU gives."""
    chunks = [TEXTS[:7], [], TEXTS[7:8], TEXTS[8:40], TEXTS[40:]]
    streamed = list(encoder.encode_stream(chunks))
    assert [len(v) for v in streamed] == [len(c) for c in chunks]
    for chunk, vectors in zip(chunks, streamed, strict=True):
        assert vectors.shape == (len(chunk), 384)
        assert np.array_equal(vectors, encoder.encode(chunk))
    serial = OnnxEncoder(MODEL, NOWHERE, quantized=True, workers=1)
    assert np.array_equal(np.vstack(streamed), serial.encode(TEXTS))
    assert list(encoder.encode_stream([])) == []
    assert not encode_threads()


def test_a_failing_call_ends_the_stream_after_the_chunks_before_it() -> None:
    encoder = Failing(MODEL, NOWHERE, quantized=True, workers=2)
    encoder.poison = encoder._tokenizer.encode("The meter of medieval French lyric poetry").ids
    Failing.calls = 0
    chunks = [TEXTS[:10], [*TEXTS[10:20], "The meter of medieval French lyric poetry"]]
    chunks += [["x"] * 500] * 4
    stream = encoder.encode_stream(chunks)
    first = next(stream)
    assert np.array_equal(first, encoder.encode(TEXTS[:10]))
    with pytest.raises(RuntimeError, match="model call failed"):
        next(stream)
    assert Failing.calls < 1000  # the later chunks' queued calls were dropped
    assert not encode_threads()


def test_closing_a_stream_early_stops_its_threads(encoder: OnnxEncoder) -> None:
    stream = encoder.encode_stream([TEXTS[:4]] + [["x"] * 300] * 5)
    next(stream)
    stream.close()
    assert not encode_threads()


# -- embed_pending over a real store --------------------------------------------------------


def lens_with_papers(tmp_path: Path) -> PaperLens:
    lens = PaperLens(Settings(data_dir=tmp_path / "data", database_url=""))
    lens.ingest(SnapshotSource(write_jsonl(tmp_path / "snapshot.jsonl", RECORDS)))
    return lens


def stored(lens: PaperLens, key: str) -> dict[int, NDArray[np.float32]]:
    pks = [pk for batch in lens.embeddings.changed_since(key, 0) for pk in batch[0].tolist()]
    return lens.embeddings.get(key, pks)


def test_overlapped_embedding_stores_the_vectors_batch_by_batch_stores(
    tmp_path: Path, encoder: OnnxEncoder
) -> None:
    old = lens_with_papers(tmp_path / "old")
    new = lens_with_papers(tmp_path / "new")
    seen: list[int] = []
    assert embed_pending(encoder, old.embeddings, batch_size=BATCH, overlap=False) == 70
    done = embed_pending(
        encoder, new.embeddings, lambda _s, d, _t: seen.append(d), batch_size=BATCH
    )
    assert done == 70
    assert seen == [0, 16, 32, 48, 64, 70]  # progress after each stored batch, in order
    before, after = stored(old, encoder.key), stored(new, encoder.key)
    assert len(after) == 70
    assert before.keys() == after.keys()
    assert all(np.array_equal(before[pk], after[pk]) for pk in before)
    assert new.embeddings.count_pending(encoder.key) == 0
    assert not encode_threads()


def test_a_failing_store_write_keeps_the_stored_batches_and_resumes(
    tmp_path: Path, encoder: OnnxEncoder
) -> None:
    lens = lens_with_papers(tmp_path)
    failing = FailingPuts(lens.embeddings, fail_at=3)
    with pytest.raises(OSError, match="disk full"):
        embed_pending(encoder, failing, batch_size=BATCH)
    assert not encode_threads()  # the model's threads stopped with the step
    assert len(stored(lens, encoder.key)) == 2 * BATCH  # two committed batches
    assert lens.embeddings.count_pending(encoder.key) == 70 - 2 * BATCH
    assert embed_pending(encoder, lens.embeddings, batch_size=BATCH) == 70 - 2 * BATCH
    clean = lens_with_papers(tmp_path / "clean")
    embed_pending(encoder, clean.embeddings, batch_size=BATCH, overlap=False)
    expected, resumed = stored(clean, encoder.key), stored(lens, encoder.key)
    assert expected.keys() == resumed.keys()
    assert all(np.array_equal(expected[pk], resumed[pk]) for pk in expected)


def test_a_failing_model_call_keeps_the_batches_before_it(tmp_path: Path) -> None:
    lens = lens_with_papers(tmp_path)
    encoder = Failing(MODEL, NOWHERE, quantized=True, workers=2)
    pending = [p for batch in lens.embeddings.pending(encoder.key) for p in batch]
    third = pending[2 * BATCH + 3]  # a paper of the third batch
    encoder.poison = encoder._tokenizer.encode(f"{third.title}. {third.abstract}").ids
    with pytest.raises(RuntimeError, match="model call failed"):
        lens.index(embed=lambda e, p: embed_pending(encoder, e, p, batch_size=BATCH))
    assert not encode_threads()
    assert len(stored(lens, encoder.key)) == 2 * BATCH
    assert lens.embeddings.count_pending(encoder.key) == 70 - 2 * BATCH
    # A killed index resumes: the next run embeds only what is left, then the rest.
    report = lens.index(
        embed=lambda e, p: embed_pending(
            OnnxEncoder(MODEL, NOWHERE, quantized=True), e, p, batch_size=BATCH
        )
    )
    assert report.embedded == 70 - 2 * BATCH
    assert lens.embeddings.count_pending(encoder.key) == 0


def test_encoders_without_a_stream_embed_chunk_by_chunk(tmp_path: Path) -> None:
    """Backends with no ``encode_stream`` (torch, model2vec, Ray's shards) keep the
    batch-by-batch path; so does ``overlap=False``."""
    from paperlens.embedding.model2vec_encoder import Model2VecEncoder

    assert not hasattr(Model2VecEncoder, "encode_stream")
    encoder = OnnxEncoder(MODEL, NOWHERE, quantized=True, workers=2)
    chunks = [TEXTS[:5], TEXTS[5:9]]
    plain = list(encode_chunks(encoder, chunks, overlap=False))
    assert [np.array_equal(a, encoder.encode(c)) for a, c in zip(plain, chunks, strict=True)] == [
        True,
        True,
    ]
