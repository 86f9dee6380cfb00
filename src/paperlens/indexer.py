"""Bring the derived data up to date with the store, in three resumable steps:

1. **embed**: papers whose text is new or changed get a vector (stored in the
   database, batch by batch, so an interrupted run keeps what it did);
2. **lexical**: the BM25 index takes every paper changed since its watermark, and so
   do the tf-idf term vectors of "similar papers" (their own watermark);
3. **vectors**: the HNSW index takes every embedding written since its watermark and
   drops deleted papers;
4. **sentences** (opt-in, ``Settings.sentence_index``): each changed paper's abstract
   is split into labelled sentences and embedded into :mod:`paperlens.index.sentences`
   (for facet-aware similarity). It roughly doubles the embed time, hence opt-in.

Each step only looks at what changed, so running ``paperlens index`` again after a
small harvest is quick. The embed step is pluggable (:data:`EmbedStep`): by default
:func:`embed_pending` with a local encoder; :mod:`paperlens.embedding.ray` embeds on a
Ray cluster instead, and the two other steps stay the same.

One process at a time updates the indexes (:func:`exclusively`, a lock file beside
them): tantivy allows a single writer, and two HNSW writers would each publish their
own delta. A second updater gets :class:`IndexBusy` at once; what it wanted indexed
(a submitted paper, say) is picked up by the running one, which goes round again
while the store has changed under it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import numpy as np
from filelock import FileLock, Timeout
from numpy.typing import NDArray

from paperlens.embedding import Encoder
from paperlens.index.lexical import LexicalIndex
from paperlens.index.sentences import SentenceIndex
from paperlens.index.terms import CHUNK_PAPERS, TermIndex
from paperlens.index.vector import DenseIndex
from paperlens.rhetoric import label_sentences, split_sentences
from paperlens.store.embeddings import EmbeddingStore, PendingPaper
from paperlens.store.papers import PaperStore, embedding_text

#: ``(step, done, total)``: total is ``None`` when unknown.
IndexProgress = Callable[[str, int, int | None], None]

#: The embed step: embeds the pending papers into the store (reporting progress as step
#: ``"embed"``) and returns how many it embedded.
EmbedStep = Callable[[EmbeddingStore, IndexProgress], int]


@dataclass(slots=True)
class IndexReport:
    embedded: int = 0
    lexical_docs: int = 0
    vectors: int = 0
    #: Papers written to the term vectors of "similar papers" (:mod:`paperlens.index.terms`).
    term_docs: int = 0
    #: Papers whose sentences were (re-)embedded by the opt-in sentence step.
    sentence_papers: int = 0
    #: "Similar papers" lists computed ahead (``paperlens.search.neighbours``; run by
    #: ``PaperLens.index`` after these steps).
    similar_lists: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    #: Runs of the three steps: more than one when papers arrived during the first.
    passes: int = 0

    @property
    def embed_rate(self) -> float:
        s = self.seconds.get("embed", 0.0)
        return self.embedded / s if s > 0 else 0.0

    def add(self, other: IndexReport) -> None:
        self.embedded += other.embedded
        self.lexical_docs += other.lexical_docs
        self.term_docs += other.term_docs
        self.vectors += other.vectors
        self.sentence_papers += other.sentence_papers
        self.similar_lists += other.similar_lists
        self.passes += other.passes
        for step, seconds in other.seconds.items():
            self.seconds[step] = self.seconds.get(step, 0.0) + seconds


class IndexBusy(RuntimeError):
    """Another process (or thread) is updating the indexes right now."""


#: Passes of :func:`exclusively` at most, however fast papers keep arriving.
MAX_PASSES = 5


def exclusively(
    lock_path: Path, build: Callable[[], IndexReport], behind: Callable[[], bool]
) -> IndexReport:
    """Run ``build`` holding the index lock, again while ``behind()`` says the store
    has changes the indexes lack. Raises :class:`IndexBusy` if another holds the lock.

    The check after each pass is repeated once the lock is released: a writer that
    stored a paper and found the lock held (so left it to us) did so before we let go,
    so we see its change then, and take the lock back for it (or leave it to whoever
    has just taken it)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(lock_path, thread_local=False)  # one file descriptor per call
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise IndexBusy(
            "another paperlens process is updating the indexes; what it has not "
            "indexed yet, it will pick up before it finishes"
        ) from None
    report = IndexReport()
    while True:
        try:
            while True:
                report.add(build())
                if report.passes >= MAX_PASSES or not behind():
                    break
        finally:
            lock.release()
        if report.passes >= MAX_PASSES or not behind():
            return report
        try:
            lock.acquire(timeout=0)
        except Timeout:
            return report


def _noop(_step: str, _done: int, _total: int | None) -> None:
    return None


def encode_chunks(
    encoder: Encoder, chunks: Iterable[Sequence[str]], *, overlap: bool = True
) -> Generator[NDArray[np.float32], None, None]:
    """``encoder.encode`` of each chunk, in order. With ``overlap`` (the default) and an
    encoder that streams (``encode_stream``: the ONNX backends), the model runs the next
    chunk while the caller stores the current one (bench/README.md, "Both cores");
    vectors are the same either way. Close the result when stopping early."""
    stream = getattr(encoder, "encode_stream", None) if overlap else None
    if stream is not None:
        return cast("Generator[NDArray[np.float32], None, None]", stream(chunks))
    return (encoder.encode(texts) for texts in chunks)


def embed_pending(
    encoder: Encoder,
    embeddings: EmbeddingStore,
    progress: IndexProgress = _noop,
    batch_size: int = 256,
    *,
    overlap: bool = True,
) -> int:
    """Embed the papers pending for ``encoder.key``, ``batch_size`` at a time, each
    batch stored in its own transaction (so a crash loses only the batches not yet
    stored, and the next run resumes with them). With ``overlap`` the model embeds the
    next batch while this one is stored (:func:`encode_chunks`); the store is only ever
    used from this thread."""
    total = embeddings.count_pending(encoder.key)
    done = 0
    progress("embed", 0, total)
    batches: list[list[PendingPaper]] = []  # read, not yet stored (two at most)

    def texts() -> Iterator[list[str]]:
        for batch in embeddings.pending(encoder.key, batch_size=batch_size):
            batches.append(batch)
            yield [embedding_text(p.title, p.abstract) for p in batch]

    with closing(encode_chunks(encoder, texts(), overlap=overlap)) as vectors_of:
        for vectors in vectors_of:
            batch = batches.pop(0)
            embeddings.put(
                encoder.key, [(p.pk, p.text_hash, v) for p, v in zip(batch, vectors, strict=True)]
            )
            done += len(batch)
            progress("embed", done, total)
    return done


def sync_lexical(store: PaperStore, lexical: LexicalIndex, progress: IndexProgress = _noop) -> int:
    upto = store.current_seq()
    done = 0

    def on_batch(n: int) -> None:
        nonlocal done
        done += n
        progress("lexical", done, None)

    return lexical.apply(store.changed_since(lexical.seq), upto, on_batch=on_batch)


def _remove_deleted(store: PaperStore, vectors: DenseIndex, since: int) -> None:
    for batch in store.changed_keys_since(since):
        vectors.remove(np.array([pk for pk, deleted in batch if deleted], dtype=np.uint64))


def sync_vectors(
    store: PaperStore,
    embeddings: EmbeddingStore,
    vectors: DenseIndex,
    progress: IndexProgress = _noop,
    batch_size: int = 4096,
) -> int:
    upto = store.current_seq()
    since = vectors.seq
    added = 0
    # A first build (or one resumed from its checkpoint) saves a checkpoint now and then,
    # so that a crash an hour into a 3M-paper build does not start it over. Later runs
    # are incremental and short.
    every = vectors.checkpoint_every if since == 0 or vectors.building else None
    for chunk in embeddings.changed_batches(vectors.model, since, batch_size):
        vectors.upsert(chunk.pks, chunk.matrix)
        added += len(chunk.pks)
        progress("vectors", added, None)
        if every and added // every > (added - len(chunk.pks)) // every:
            _remove_deleted(store, vectors, since)  # a checkpoint holds no deleted paper
            # Rows of the batch's last counter may follow in the next batch: stop short.
            vectors.checkpoint(min(chunk.last_seq - 1, upto))
    # Deleted papers leave the index; a paper revived with unchanged text keeps its old
    # embedding row, so put it back if it is missing.
    for batch in store.changed_keys_since(since):
        gone = np.array([pk for pk, deleted in batch if deleted], dtype=np.uint64)
        vectors.remove(gone)
        missing = [pk for pk, deleted in batch if not deleted and pk not in vectors]
        found = embeddings.get(vectors.model, missing)
        if found:
            keys = np.array(list(found), dtype=np.uint64)
            vectors.upsert(keys, np.vstack(list(found.values())))
            added += len(found)
    vectors.save(upto)
    return added


def sync_sentences(
    store: PaperStore,
    sentences: SentenceIndex,
    encoder: Encoder,
    progress: IndexProgress = _noop,
) -> int:
    """Split, label and embed the abstracts of papers changed since the sentence index's
    watermark; deleted papers and papers without an abstract leave it. Saves after each
    store batch (a checkpoint: rows of the batch's last counter may follow in the next
    batch, so it is saved as one short of it)."""
    upto = store.current_seq()
    done = 0
    for batch in store.changed_since(sentences.seq):
        gone = [sp.pk for sp in batch if sp.deleted]
        sentences.remove(gone)
        live = [sp for sp in batch if not sp.deleted]
        split = [split_sentences(sp.paper.abstract) for sp in live]
        flat = [s for parts in split for s in parts]
        matrix = encoder.encode(flat)
        row = 0
        for sp, parts in zip(live, split, strict=True):
            sentences.put(sp.pk, matrix[row : row + len(parts)], label_sentences(parts))
            row += len(parts)
        done += len(live)
        progress("sentences", done, None)
        sentences.save(min(batch[-1].seq - 1, upto))
    sentences.save(upto)
    return done


def local_embed(encoder: Encoder, batch_size: int = 256, *, overlap: bool = True) -> EmbedStep:
    """The default embed step: :func:`embed_pending` with ``encoder`` in this process
    (``overlap=False``: one batch at a time, the path before overlapping, for benches)."""

    def step(embeddings: EmbeddingStore, progress: IndexProgress) -> int:
        return embed_pending(encoder, embeddings, progress, batch_size=batch_size, overlap=overlap)

    return step


def sync_terms(
    store: PaperStore,
    terms: TermIndex,
    progress: IndexProgress = _noop,
    chunk: int = CHUNK_PAPERS,
) -> int:
    """Bring the tf-idf term vectors of "similar papers" up to date: a new segment,
    committed with its watermark, every ``chunk`` changed papers (so memory is bounded
    and a killed sync resumes after the last one)."""
    upto = store.current_seq()
    if terms.seq >= upto:
        return 0
    done = 0

    def on_batch(n: int) -> None:
        nonlocal done
        done += n
        progress("terms", done, None)

    return terms.apply(store.changed_since(terms.seq), upto, on_batch=on_batch, chunk=chunk)


def build_keywords(
    store: PaperStore,
    lexical: LexicalIndex,
    terms: TermIndex | None = None,
    progress: IndexProgress | None = None,
) -> IndexReport:
    """The keyword side alone: BM25, then the term vectors when ``terms`` is given. No
    model is needed and it takes seconds where embedding takes minutes, so keyword
    search can be served while the dense side is still being built (``paperlens demo``
    on a first run). Counts as one pass."""
    progress = progress or _noop
    report = IndexReport()
    started = time.perf_counter()
    report.lexical_docs = sync_lexical(store, lexical, progress)
    report.seconds["lexical"] = time.perf_counter() - started
    if terms is not None:
        started = time.perf_counter()
        report.term_docs = sync_terms(store, terms, progress)
        report.seconds["terms"] = time.perf_counter() - started
    report.passes = 1
    return report


def build_all(
    store: PaperStore,
    embeddings: EmbeddingStore,
    lexical: LexicalIndex,
    vectors: DenseIndex | Callable[[], DenseIndex],
    encoder: Encoder | None = None,
    progress: IndexProgress | None = None,
    *,
    embed: EmbedStep | None = None,
    terms: TermIndex | None = None,
    sentences: Callable[[], tuple[SentenceIndex, Encoder]] | None = None,
) -> IndexReport:
    """Run the three steps, and the sentence step when ``sentences`` gives its index
    and encoder (a callable, opened after the other steps). ``embed`` replaces the
    local embed step (then ``encoder`` is not needed); ``vectors`` may be given as a
    callable, opened after embedding (so a driver that embeds elsewhere never loads the
    model to learn its dimension)."""
    if embed is None:
        if encoder is None:
            raise ValueError("build_all needs an encoder or an embed step")
        embed = local_embed(encoder)
    progress = progress or _noop
    report = IndexReport()
    clock = time.perf_counter

    started = clock()
    report.embedded = embed(embeddings, progress)
    report.seconds["embed"] = clock() - started

    report.add(build_keywords(store, lexical, terms, progress))

    started = clock()
    index = vectors() if callable(vectors) else vectors
    report.vectors = sync_vectors(store, embeddings, index, progress)
    report.seconds["vectors"] = clock() - started
    if sentences is not None:
        started = clock()
        index_, encoder_ = sentences()
        report.sentence_papers = sync_sentences(store, index_, encoder_, progress)
        report.seconds["sentences"] = clock() - started
    report.passes = 1
    return report
