"""Term vectors: the lexical half of "similar papers" (tf-idf cosine over title + abstract).

BM25 with a whole paper as the query ranks papers like it worse than plain tf-idf cosine
(bench/README.md, "Similar papers"), so "more like this" uses its own representation:

* **terms**: the paper's title and abstract, LaTeX stripped, lower-cased, ASCII-folded,
  English stop words removed, Porter-stemmed (tantivy's analyzer, so the same stems as
  BM25), as unigrams plus bigrams of adjacent kept tokens;
* **tf**: ``abstract count + TITLE_WEIGHT * title count``, then sublinear ``1 + ln tf``;
* **idf**: ``ln((1 + N) / (1 + df)) + 1`` (smoothed, as scikit-learn's), where terms in
  more than ``MAX_DF`` of the papers weigh nothing;
* the vector is l2-normalised, so the dot product of two vectors is their cosine.

Storage (``index_dir/terms/``), append-only like the HNSW delta:

* a sync (:meth:`TermIndex.apply`) writes the papers changed since :attr:`TermIndex.seq`
  as **segments** of at most about ``CHUNK_PAPERS`` papers each: ``pks`` (int64,
  sorted), ``offsets`` (int64), hashed term ids (``crc32``, uint32) and weighted raw tf
  (float16); a deleted paper is an empty entry. The newest entry of a pk wins.
* each segment is **committed** as written, with the store counter of its last paper
  as the watermark: chunks are cut where the counter changes (``changed_since`` yields
  papers in ``(seq, pk)`` order), so every paper up to the watermark is in. A killed
  sync resumes after its last commit, and a sync's memory is O(``CHUNK_PAPERS``), not
  O(corpus). A paper read again (written again during the sync, or in a counter cut
  inside) subtracts the entry written before it: df stays exact.
* more than ``MAX_SEGMENTS`` segments are **merged** into one by streaming: the newest
  entry of each pk is known from the readers' lookup arrays (16 bytes a paper), and
  the terms are copied ``MERGE_PIECE`` papers at a time into the new files, deleted
  papers dropped; never a dict of every paper's terms.
* **document frequencies** live in a table of ``DF_BUCKETS`` counters indexed by the
  term id's low bits (collisions only make rare terms a little commoner), updated as
  papers come, change and go (the old entry's terms are subtracted), saved sparse
  (int32 bucket and count of each non-zero counter: at most 134 MB), in blocks.
* ``state.json`` names the live files (generation-numbered) and is replaced atomically
  last: it is the commit point, so a crash leaves the previous generation in force.
  Files no generation names are removed after it; a reader that mapped them keeps
  reading them (an unlinked file lives while mapped) until it reloads.

Only raw tf is stored: idf is applied when a vector is read, so vectors never go stale
as the corpus grows. Per paper this costs 6 bytes per distinct term plus 16 (CSFCube:
153 terms a paper with bigrams, 0.94 KB; so ~0.95 GB at 1M papers, memory-mapped: RAM
holds only the pages read), plus the df table (64 MB of RAM at most). The indexer keeps
it current (``indexer.sync_terms``, its own watermark, after the BM25 step); analysing a
paper takes ~0.4 ms of CPU (~1 ms of wall time on a busy box), so a first build of 1M
papers takes 7–20 minutes on one core, in memory that does not grow with the corpus
(bench/terms_memory.py; bench/README.md).

The index scores *given* candidates (:meth:`TermIndex.cosine`), it does not search: the
dense and BM25 indexes propose candidates and this one re-scores them
(``Retriever.similar`` in ``search/engine.py``).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import threading
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tantivy

from paperlens.store.papers import StoredPaper
from paperlens.text import strip_latex

#: A title term counts this many times an abstract term. This and ``MAX_DF`` were chosen
#: by cross-validation on CSFCube dev (bench/similar.py; bench/README.md).
TITLE_WEIGHT = 3.0
#: Terms in more than this share of papers carry no weight.
MAX_DF = 0.3
#: Counters in the document-frequency table (a power of two).
DF_BUCKETS = 1 << 24
#: A shared term is named as a reason only if it weighs at least this share of the
#: heaviest shared term.
REASON_FLOOR = 0.2
#: Merge segments once there are more than this many.
MAX_SEGMENTS = 8
#: Papers a sync holds in memory before writing and committing them as a segment: its
#: memory is O(this), not O(corpus) (~1.2 KB a paper; bench/terms_memory.py).
CHUNK_PAPERS = 50_000
#: Papers whose terms a merge copies at a time.
MERGE_PIECE = 8192
#: Buckets of the document-frequency table saved or loaded at a time.
DF_BLOCK = 1 << 20
#: Reads of ``state.json`` a reader tries when a writer keeps replacing the generation.
LOAD_ATTEMPTS = 5

#: English function words plus the boilerplate of abstracts; they never make two
#: papers alike. (Stemmed like the text before comparing.)
STOP_WORDS = frozenset(
    """a about above after again against all also although am among an and any are as at
    be because been before being below between both but by can could did do does doing
    done down during each either et etc few for from further had has have having he her
    here hers herself him himself his how however i if in into is it its itself just me
    may might more most much must my myself no nor not now of off on once only or other
    our ours ourselves out over own per same shall she should since so some such than
    that the their theirs them themselves then there therefore these they this those
    through thus to too under until up upon us using very via was we were what when where
    whether which while who whom whose why will with within without would yet you your
    yours yourself yourselves paper propose proposed present presents show shows shown
    based use used new well one two three also""".split()  # noqa: SIM905 - a word list
)

_WORD = re.compile(r"[a-z][a-z0-9]+")


def _analyzer(stem: bool) -> tantivy.TextAnalyzer:
    builder = (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(40))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.ascii_fold())
    )
    if stem:
        builder = builder.filter(tantivy.Filter.stemmer("english"))
    return builder.build()


class Terms:
    """Text to terms (thread-safe: tantivy analyzers are stateless)."""

    def __init__(self) -> None:
        self._plain = _analyzer(stem=False)
        self._stem = _analyzer(stem=True)

    def tokens(self, text: str) -> list[tuple[str, str]]:
        """``(stem, word)`` of each kept token, in order."""
        text = strip_latex(text)  # the analyzer folds accents itself
        words = self._plain.analyze(text)
        stems = self._stem.analyze(text)
        if len(words) != len(stems):  # the stemmer maps one to one; never expected
            stems = words
        return [
            (s, w)
            for s, w in zip(stems, words, strict=True)
            if w not in STOP_WORDS and len(w) > 1 and _WORD.fullmatch(w)
        ]

    def grams(self, text: str) -> list[tuple[str, str]]:
        """Unigrams and bigrams as ``(term, surface)``: the term is stemmed, the surface
        is the words as written (for showing a reason)."""
        toks = self.tokens(text)
        out = list(toks)
        out += [(f"{a[0]} {b[0]}", f"{a[1]} {b[1]}") for a, b in itertools.pairwise(toks)]
        return out

    def counts(
        self, title: str, abstract: str, title_weight: float = TITLE_WEIGHT
    ) -> dict[str, float]:
        """Weighted term counts of a paper: title terms count ``title_weight`` times."""
        return self.counts_of(self.grams(title), self.grams(abstract), title_weight)

    @staticmethod
    def counts_of(
        title: list[tuple[str, str]], abstract: list[tuple[str, str]], title_weight: float
    ) -> dict[str, float]:
        """:meth:`counts` from the :meth:`grams` of the title and of the abstract."""
        counts: dict[str, float] = defaultdict(float)
        for term, _ in title:
            counts[term] += title_weight
        for term, _ in abstract:
            counts[term] += 1.0
        return counts


def term_id(term: str) -> int:
    return zlib.crc32(term.encode("utf-8"))


def sparse(counts: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """Counts as sorted ``(uint32 ids, float32 tf)``; colliding ids are summed."""
    if not counts:
        return np.zeros(0, np.uint32), np.zeros(0, np.float32)
    ids = np.fromiter((term_id(t) for t in counts), np.uint32, len(counts))
    tfs = np.fromiter(counts.values(), np.float32, len(counts))
    uniq, inverse = np.unique(ids, return_inverse=True)
    return uniq, np.bincount(inverse, weights=tfs).astype(np.float32)


@dataclass(frozen=True, slots=True)
class _Segment:
    pks: np.ndarray
    offsets: np.ndarray
    ids: np.ndarray
    tfs: np.ndarray


class TermIndex:
    """Term vectors of every live paper in ``path``. One writer at a time (the indexer
    holds ``writer.lock``); readers see a new generation after :meth:`reload`."""

    def __init__(self, path: Path, buckets: int = DF_BUCKETS) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.state_path = path / "state.json"
        self.buckets = buckets
        self.terms = Terms()
        #: Settings of the representation (module constants; benchmarks vary them).
        self.max_df = MAX_DF
        self.title_weight = TITLE_WEIGHT
        self._lock = threading.Lock()
        self._loaded: str | None = None
        self._load()

    # -- state ------------------------------------------------------------------------

    def _read_state(self) -> dict[str, Any]:
        try:
            state: dict[str, Any] = json.loads(self.state_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"seq": 0, "generation": 0, "segments": [], "docs": 0}
        return state

    def _load(self) -> None:
        for attempt in range(LOAD_ATTEMPTS):
            state = self._read_state()
            text = json.dumps(state, sort_keys=True)
            if text == self._loaded:
                return
            try:
                segments = [self._open_segment(str(name)) for name in state["segments"]]
                df = np.zeros(self.buckets, np.int32)  # calloc: untouched pages cost nothing
                df_file = state.get("df")
                if df_file:
                    self._load_df(self.path / str(df_file), df)
                break
            except FileNotFoundError:
                # The writer published a newer generation (and removed this one's files)
                # between reading state.json and opening them: read it again.
                if attempt == LOAD_ATTEMPTS - 1:
                    raise
        # pk -> (segment, row) of its newest entry, as sorted arrays for searchsorted.
        pks = [s.pks for s in segments]
        seg_of = [np.full(len(s.pks), i, np.int32) for i, s in enumerate(segments)]
        row_of = [np.arange(len(s.pks), dtype=np.int32) for s in segments]
        all_pks = np.concatenate(pks) if pks else np.zeros(0, np.int64)
        # The last occurrence wins: reverse, take the first of each pk.
        rev = slice(None, None, -1)
        all_seg = np.concatenate(seg_of)[rev] if pks else np.zeros(0, np.int32)
        all_row = np.concatenate(row_of)[rev] if pks else np.zeros(0, np.int32)
        uniq, first = np.unique(all_pks[rev], return_index=True)
        with self._lock:
            self._segments = segments
            self._df = df
            self._pks = uniq
            self._seg = all_seg[first]
            self._row = all_row[first]
            self._state = state
            self._loaded = text

    def _open_segment(self, name: str) -> _Segment:
        def part(kind: str) -> np.ndarray:
            # A plain ndarray over the map: slicing a memmap object costs far more.
            return np.asarray(np.load(self.path / f"{name}.{kind}.npy", mmap_mode="r"))

        return _Segment(part("pks"), part("offsets"), part("ids"), part("tfs"))

    def reload(self) -> None:
        """Pick up a generation written by another process."""
        self._load()

    @property
    def seq(self) -> int:
        """The store change counter these vectors are current to (0: empty)."""
        return int(self._read_state()["seq"])

    @property
    def loaded_seq(self) -> int:
        """The store change counter of the generation this process has loaded (what
        :meth:`cosine` and :meth:`vector` read); :attr:`seq` may already be newer when
        another process has published and :meth:`reload` has not run yet."""
        return int(self._state["seq"])

    @property
    def docs(self) -> int:
        return int(self._state["docs"])

    def __len__(self) -> int:
        return self.docs

    # -- reading ----------------------------------------------------------------------

    def raw(self, pk: int) -> tuple[np.ndarray, np.ndarray] | None:
        """A paper's stored ``(ids, tf)``, or ``None`` when it has none."""
        return self.raw_many([pk])[0]

    def raw_many(self, pks: Sequence[int]) -> list[tuple[np.ndarray, np.ndarray] | None]:
        """:meth:`raw` of each of ``pks`` (one vectorised lookup)."""
        keys = np.asarray(pks, dtype=np.int64)
        at = np.searchsorted(self._pks, keys)
        at[at >= len(self._pks)] = 0
        found = self._pks[at] == keys if len(self._pks) else np.zeros(len(keys), bool)
        out: list[tuple[np.ndarray, np.ndarray] | None] = []
        for i, ok in zip(at.tolist(), found.tolist(), strict=True):
            if not ok:
                out.append(None)
                continue
            seg = self._segments[int(self._seg[i])]
            row = int(self._row[i])
            lo, hi = int(seg.offsets[row]), int(seg.offsets[row + 1])
            out.append(None if lo == hi else (seg.ids[lo:hi], seg.tfs[lo:hi].astype(np.float32)))
        return out

    def _gather(self, pks: Sequence[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The stored terms of all ``pks`` at once: ``(owner, ids, tf)``, ``owner`` being
        the position in ``pks`` of each term's paper (no Python loop per paper)."""
        keys = np.asarray(pks, dtype=np.int64)
        at = np.searchsorted(self._pks, keys)
        at[at >= len(self._pks)] = 0
        found = self._pks[at] == keys if len(self._pks) else np.zeros(len(keys), bool)
        owners, ids, tfs = [], [], []
        for s in np.unique(self._seg[at[found]]) if found.any() else []:
            seg = self._segments[int(s)]
            mine = np.flatnonzero(found & (self._seg[at] == s))
            rows = self._row[at[mine]].astype(np.int64)
            lo, hi = seg.offsets[rows], seg.offsets[rows + 1]
            lengths = hi - lo
            total = int(lengths.sum())
            if total == 0:
                continue
            within = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
            index = np.repeat(lo, lengths) + within
            owners.append(np.repeat(mine, lengths))
            ids.append(seg.ids[index])
            tfs.append(seg.tfs[index].astype(np.float32))
        if not owners:
            empty = np.zeros(0, np.int64)
            return empty, empty.astype(np.uint32), empty.astype(np.float32)
        return np.concatenate(owners), np.concatenate(ids), np.concatenate(tfs)

    def _weights(self, ids: np.ndarray, tfs: np.ndarray) -> np.ndarray:
        """Un-normalised tf-idf weights of raw ``(ids, tf)``."""
        n = max(self.docs, 1)
        df = self._df[ids & (self.buckets - 1)].astype(np.float32)
        w = (1.0 + np.log(np.maximum(tfs, 1e-6))) * (np.log((1.0 + n) / (1.0 + df)) + 1.0)
        w[df > self.max_df * n] = 0.0
        return np.asarray(np.maximum(w, 0.0), dtype=np.float32)

    def weigh(self, ids: np.ndarray, tfs: np.ndarray) -> np.ndarray:
        """tf-idf weights of raw ``(ids, tf)``, l2-normalised."""
        w = self._weights(ids, tfs)
        norm = float(np.linalg.norm(w))
        return np.asarray(w / norm if norm > 0 else w)

    def vector(self, pk: int) -> tuple[np.ndarray, np.ndarray] | None:
        """A paper's tf-idf vector as sorted ``(ids, weights)``."""
        raw = self.raw(pk)
        return None if raw is None else (raw[0], self.weigh(*raw))

    def text_vector(self, title: str, abstract: str) -> tuple[np.ndarray, np.ndarray]:
        """The tf-idf vector of a text not (necessarily) indexed."""
        ids, tfs = sparse(self.terms.counts(title, abstract, self.title_weight))
        return ids, self.weigh(ids, tfs)

    def cosine(self, query: tuple[np.ndarray, np.ndarray], pks: Sequence[int]) -> np.ndarray:
        """Cosine of the query vector with each of ``pks`` (0 for papers without one),
        all candidates weighed at once."""
        q_ids, q_w = query
        out = np.zeros(len(pks), np.float32)
        if len(q_ids) == 0 or len(pks) == 0:
            return out
        owner, ids, tfs = self._gather(pks)
        if len(ids) == 0:
            return out
        w = self._weights(ids, tfs)
        norms = np.sqrt(np.bincount(owner, weights=w * w, minlength=len(pks)))
        pos = np.searchsorted(q_ids, ids)
        pos[pos >= len(q_ids)] = 0
        hit = q_ids[pos] == ids
        # float64 even when nothing is shared (bincount of no weights answers int64).
        dots = np.bincount(owner[hit], weights=w[hit] * q_w[pos[hit]], minlength=len(pks)).astype(
            np.float64
        )
        np.divide(dots, norms, out=dots, where=norms > 0)
        return dots.astype(np.float32)

    def shared_terms(self, a: tuple[str, str], b: tuple[str, str], limit: int = 3) -> list[str]:
        """The key terms two papers (``(title, abstract)`` each) share, heaviest first
        by the product of their tf-idf weights (bigrams count 1.5 times), as written in
        ``a``; a term overlapping one already picked is skipped."""
        return self.reasons(a, [b], limit)[0]

    def reasons(
        self,
        a: tuple[str, str],
        others: Sequence[tuple[str, str]],
        limit: int = 3,
        pks: Sequence[int] | None = None,
    ) -> list[list[str]]:
        """:meth:`shared_terms` of ``a`` with each of ``others`` (``a`` analysed once).

        With ``pks`` (each other paper's pk), an other's term counts are read from this
        index (its stored tf: the counts :meth:`Terms.counts` gave its text when it was
        indexed, summed over colliding ids) instead of analysing its text again, which
        was most of the cost of the reasons a paper page shows; a paper without stored
        terms is analysed. The two agree while the text is the indexed one (a term of
        ``a`` colliding with another term of the other paper could differ: ``crc32`` of
        some 150 terms each)."""
        grams = [self.terms.grams(part) for part in a]
        surface: dict[str, str] = {}
        for part in grams:
            for term, word in part:
                surface.setdefault(term, word)
        ca = self.terms.counts_of(grams[0], grams[1], self.title_weight)
        terms = list(ca)
        ids = np.fromiter((term_id(t) for t in terms), np.uint32, len(terms))
        wa = self.weigh(ids, np.fromiter(ca.values(), np.float32, len(terms)))
        bigram = np.array([1.5 if " " in t else 1.0 for t in terms], np.float32)
        stored = self.raw_many(pks) if pks is not None else [None] * len(others)
        if len(stored) != len(others):
            raise ValueError("reasons: give one pk for each other paper")
        out: list[list[str]] = []
        for other, raw in zip(others, stored, strict=True):
            if raw is not None and len(ids):
                b_ids, b_tfs = raw
                at = np.minimum(np.searchsorted(b_ids, ids), len(b_ids) - 1)
                shared = b_ids[at] == ids
                tb = np.where(shared, b_tfs[at], np.float32(0.0)).astype(np.float32)
            else:
                cb = self.terms.counts(*other, self.title_weight)
                shared = np.array([t in cb for t in terms], dtype=bool)
                tb = np.array([cb.get(t, 0.0) for t in terms], np.float32)
            if not shared.any():
                out.append([])
                continue
            wb = self.weigh(ids[shared], tb[shared])
            weight = np.zeros(len(terms), np.float32)
            weight[shared] = wa[shared] * wb * bigram[shared]
            out.append(self._pick(terms, weight, surface, limit))
        return out

    @staticmethod
    def _pick(
        terms: list[str], weight: np.ndarray, surface: dict[str, str], limit: int
    ) -> list[str]:
        """The heaviest shared terms as phrases: a bigram continuing a picked phrase
        extends it ("multi class" + "class classification" -> "multi class
        classification"), a term inside one is skipped, and terms weighing under
        ``REASON_FLOOR`` of the heaviest are left out (they explain nothing)."""
        phrases: list[list[str]] = []  # stems
        words: list[list[str]] = []  # the same, as written
        top = float(weight.max()) if len(weight) else 0.0
        for i in np.argsort(-weight, kind="stable"):
            if weight[i] <= max(0.0, REASON_FLOOR * top) or len(phrases) >= limit:
                break
            stems = terms[int(i)].split(" ")
            written = surface.get(terms[int(i)], terms[int(i)]).split(" ")
            if len(written) != len(stems):
                written = stems
            if any(all(t in p for t in stems) for p in phrases):
                continue  # already said
            said = {t for p in phrases for t in p}
            for p, w in zip(phrases, words, strict=True):
                if len(stems) == 2 and p[-1] == stems[0] and stems[1] not in said:
                    p.append(stems[1])
                    w.append(written[1])
                    break
                if len(stems) == 2 and p[0] == stems[1] and stems[0] not in said:
                    p.insert(0, stems[0])
                    w.insert(0, written[0])
                    break
            else:
                if said.intersection(stems):
                    continue  # overlaps a phrase without continuing it
                phrases.append(list(stems))
                words.append(list(written))
        return [" ".join(w) for w in words]

    # -- writing ----------------------------------------------------------------------

    def apply(
        self,
        changed: Iterable[Sequence[StoredPaper]],
        upto_seq: int,
        on_batch: Callable[[int], None] | None = None,
        *,
        chunk: int = CHUNK_PAPERS,
    ) -> int:
        """Add the papers changed since :attr:`seq` (in ``(seq, pk)`` order, as
        ``PaperStore.changed_since`` yields them), keeping document frequencies exact: a
        changed or deleted paper's old terms are subtracted first. Returns the papers
        written.

        Every ``chunk`` papers become a segment and are committed with the counter of
        the last paper in them, cut where the counter changes, so a killed sync resumes
        after the last committed chunk and memory stays O(``chunk``), whatever the size
        of the corpus. (A counter shared by more than ``2 * chunk`` papers is cut inside:
        its watermark is then one short of it, and the papers of that counter already
        written are written again on resume, which subtracts their own terms first.)"""
        if chunk < 1:
            raise ValueError(f"chunk must be at least 1 paper, not {chunk}")
        self._load()
        start_seq = self.seq
        df = self._df.copy()
        docs = self.docs
        mask = self.buckets - 1
        pending: dict[int, tuple[np.ndarray, np.ndarray] | None] = {}
        written = 0
        last_seq: int | None = None
        for batch in changed:
            for sp in batch:
                if last_seq is not None and len(pending) >= chunk:
                    if sp.seq != last_seq:  # every paper of last_seq is in pending
                        watermark = min(last_seq, upto_seq)
                    elif len(pending) >= 2 * chunk:
                        watermark = max(start_seq, min(last_seq - 1, upto_seq))
                    else:
                        watermark = -1
                    if watermark >= 0:
                        written += self._commit(pending, df, docs, watermark)
                        pending = {}
                # The old entry: this sync's (a paper rewritten while it runs comes again)
                # or the index's, which holds every chunk committed so far.
                old = pending[sp.pk] if sp.pk in pending else self.raw(sp.pk)
                if old is not None:
                    np.subtract.at(df, np.unique(old[0] & mask), 1)
                    docs -= 1
                last_seq = sp.seq
                if sp.deleted:
                    pending[sp.pk] = None
                    continue
                ids, tfs = sparse(
                    self.terms.counts(sp.paper.title, sp.paper.abstract, self.title_weight)
                )
                if len(ids) == 0:
                    pending[sp.pk] = None
                    continue
                np.add.at(df, np.unique(ids & mask), 1)
                docs += 1
                pending[sp.pk] = (ids, tfs.astype(np.float16))  # as stored: half the memory
            if on_batch is not None:
                on_batch(len(batch))
        return written + self._commit(pending, df, docs, upto_seq)

    def _commit(
        self,
        pending: dict[int, tuple[np.ndarray, np.ndarray] | None],
        df: np.ndarray,
        docs: int,
        seq: int,
    ) -> int:
        """Write ``pending`` as a segment with ``df``, publish the generation as current
        to ``seq``, then merge when there are more than ``MAX_SEGMENTS`` segments.
        Returns the papers written (deletions not counted)."""
        state = self._read_state()
        generation = int(state["generation"]) + 1
        segments = [str(s) for s in state["segments"]]
        if pending:
            name = f"seg-{generation:06d}"
            self._write_segment(name, sorted(pending.items()))
            segments.append(name)
        df_name = f"df-{generation:06d}.npy"
        self._save_df(df, self.path / df_name)
        self._publish(
            {
                "seq": seq,
                "generation": generation,
                "segments": segments,
                "docs": docs,
                "df": df_name,
            }
        )
        if len(segments) > MAX_SEGMENTS:
            self._merge()
        return sum(v is not None for v in pending.values())

    def _publish(self, state: dict[str, Any]) -> None:
        """Make ``state`` current (``state.json`` replaced atomically: the commit point),
        load it, and remove the files no generation needs any more (readers that mapped
        them keep reading them until they reload: an unlinked file lives while mapped)."""
        tmp = self.state_path.with_name("state.json.tmp")
        tmp.write_text(json.dumps(state), encoding="utf-8")
        os.replace(tmp, self.state_path)
        self._load()
        self._remove_unused(state)

    def _merge(self) -> None:
        """Rewrite every segment as one: the newest entry of each pk, deleted papers
        dropped. Streams: the newest entry of each pk is already known (``_pks``,
        ``_seg``, ``_row``: the k-way merge of the segments' sorted pk arrays, 16 bytes a
        paper), so the terms are copied ``MERGE_PIECE`` papers at a time, read with
        ``pread`` and appended to the new files; no dict of every paper's terms.
        Document frequencies do not change."""
        state = dict(self._state)
        generation = int(state["generation"]) + 1
        name = f"seg-{generation:06d}"
        pks, seg_of = self._pks, self._seg
        starts = np.zeros(len(pks), np.int64)
        lengths = np.zeros(len(pks), np.int64)
        for s, seg in enumerate(self._segments):
            mine = np.flatnonzero(seg_of == s)
            rows = self._row[mine].astype(np.int64)
            starts[mine] = seg.offsets[rows]
            lengths[mine] = seg.offsets[rows + 1] - starts[mine]
        live = lengths > 0
        np.save(self.path / f"{name}.pks.npy", pks[live])
        offsets = np.zeros(int(live.sum()) + 1, np.int64)
        np.cumsum(lengths[live], out=offsets[1:])
        np.save(self.path / f"{name}.offsets.npy", offsets)
        del offsets
        total = int(lengths.sum())
        sources = [
            (_NpyFile(self.path / f"{s}.ids.npy"), _NpyFile(self.path / f"{s}.tfs.npy"))
            for s in state["segments"]
        ]
        with (
            _NpyAppender(self.path / f"{name}.ids.npy", np.uint32, total) as ids_out,
            _NpyAppender(self.path / f"{name}.tfs.npy", np.float16, total) as tfs_out,
        ):
            for lo in range(0, len(pks), MERGE_PIECE):
                # Pieces cut over all pks, live or not: a segment's rows of a piece are
                # then one run of at most MERGE_PIECE rows (its pks are sorted too).
                hi = min(len(pks), lo + MERGE_PIECE)
                keep = np.flatnonzero(live[lo:hi]) + lo
                if len(keep) == 0:
                    continue
                length, start, owner = lengths[keep], starts[keep], seg_of[keep]
                dest = np.cumsum(length) - length
                ids = np.empty(int(length.sum()), np.uint32)
                tfs = np.empty(len(ids), np.float16)
                for s in np.unique(owner).tolist():
                    mine = np.flatnonzero(owner == s)
                    first = int(start[mine[0]])
                    end = int(start[mine[-1]] + length[mine[-1]])
                    n = length[mine]
                    within = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
                    to = np.repeat(dest[mine], n) + within
                    at = np.repeat(start[mine] - first, n) + within
                    ids[to] = sources[s][0].read(first, end)[at]
                    tfs[to] = sources[s][1].read(first, end)[at]
                ids_out.write(ids)
                tfs_out.write(tfs)
        for files in sources:
            for f in files:
                f.close()
        state["generation"] = generation
        state["segments"] = [name]
        self._publish(state)

    def _write_segment(
        self, name: str, entries: Sequence[tuple[int, tuple[np.ndarray, np.ndarray] | None]]
    ) -> None:
        lengths = [0 if v is None else len(v[0]) for _, v in entries]
        offsets = np.zeros(len(entries) + 1, np.int64)
        offsets[1:] = np.cumsum(lengths)
        vecs = [v for _, v in entries if v is not None]
        ids = np.concatenate([v[0] for v in vecs]) if vecs else np.zeros(0, np.uint32)
        tfs = np.concatenate([v[1] for v in vecs]) if vecs else np.zeros(0, np.float16)
        parts = {
            "pks": np.array([pk for pk, _ in entries], np.int64),
            "offsets": offsets,
            "ids": ids.astype(np.uint32, copy=False),
            "tfs": tfs.astype(np.float16, copy=False),
        }
        for kind, array in parts.items():
            np.save(self.path / f"{name}.{kind}.npy", array)

    def _save_df(self, df: np.ndarray, path: Path) -> None:
        """``df`` sparse: an int32 ``(2, n)`` array of the non-zero buckets and their
        counts, written ``DF_BLOCK`` buckets at a time (a full table in one piece would
        take ~300 MB of temporaries)."""
        count = int(np.count_nonzero(df))
        with _NpyAppender(path, np.int32, 2 * count, shape=(2, count)) as out:
            for row in (0, 1):
                for lo in range(0, len(df), DF_BLOCK):
                    block = df[lo : lo + DF_BLOCK]
                    nz = np.flatnonzero(block)
                    out.write(nz + lo if row == 0 else block[nz])

    def _load_df(self, path: Path, df: np.ndarray) -> None:
        """Fill ``df`` from a file of :meth:`_save_df`, ``DF_BLOCK`` entries at a time."""
        with _NpyFile(path) as saved:
            count = saved.shape[1] if len(saved.shape) == 2 else 0
            for lo in range(0, count, DF_BLOCK):
                hi = min(count, lo + DF_BLOCK)
                df[saved.read(lo, hi)] = saved.read(count + lo, count + hi)

    def _remove_unused(self, state: dict[str, Any]) -> None:
        keep = {f"{s}.{k}.npy" for s in state["segments"] for k in ("pks", "offsets", "ids", "tfs")}
        keep |= {str(state["df"]), "state.json"}
        for f in self.path.iterdir():
            if f.name not in keep and (f.name.startswith(("seg-", "df-"))):
                f.unlink(missing_ok=True)


class _NpyFile:
    """A one-dimensional slice of a C-order ``.npy`` file, read with ``pread``: unlike a
    memory map, what was read leaves this process's resident memory once dropped."""

    def __init__(self, path: Path) -> None:
        self._fh = path.open("rb")
        version = np.lib.format.read_magic(self._fh)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(self._fh)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(self._fh)
        if fortran:
            raise ValueError(f"{path}: Fortran order is not written here")
        self.shape: tuple[int, ...] = tuple(shape)
        self.dtype = np.dtype(dtype)
        self._data = self._fh.tell()

    def read(self, lo: int, hi: int) -> np.ndarray:
        """Elements ``lo:hi`` of the flattened array."""
        size = self.dtype.itemsize
        raw = os.pread(self._fh.fileno(), (hi - lo) * size, self._data + lo * size)
        if len(raw) != (hi - lo) * size:
            raise ValueError(f"{self._fh.name}: truncated")
        return np.frombuffer(raw, self.dtype)

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> _NpyFile:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class _NpyAppender:
    """A ``.npy`` file of known dtype and size, written in pieces, in order."""

    def __init__(
        self, path: Path, dtype: type, size: int, shape: tuple[int, ...] | None = None
    ) -> None:
        self.path = path
        self.dtype = np.dtype(dtype)
        self.size = size
        self.done = 0
        self._fh = path.open("wb")
        header = {
            "descr": np.lib.format.dtype_to_descr(self.dtype),
            "fortran_order": False,
            "shape": shape or (size,),
        }
        np.lib.format.write_array_header_1_0(self._fh, header)

    def write(self, array: np.ndarray) -> None:
        self._fh.write(np.ascontiguousarray(array, dtype=self.dtype).tobytes())
        self.done += len(array)

    def __enter__(self) -> _NpyAppender:
        return self

    def __exit__(self, exc_type: object, *_rest: object) -> None:
        self._fh.close()
        if exc_type is None and self.done != self.size:
            raise RuntimeError(f"{self.path}: wrote {self.done} of {self.size} elements")
