"""Computing "similar papers" lists ahead, for :mod:`paperlens.index.neighbours`.

``paperlens index`` calls :func:`update_lists` after the indexes are in place. Each run
computes the lists of papers that have none or were written since theirs was computed
(``seq > computed``), at most ``budget`` of them: first the papers written after every
stored list (a harvest, a submission), then the backlog, newest papers first in each. A
first index of a
large corpus spreads the work over several runs (at ~7 ms a list on 200,000 papers and
~18 ms on 1M, 20,000 lists are 2-6 minutes), while a daily run covers its new papers
and then the backlog. A paper without a stored list is computed on request, as before.

A list is :meth:`Retriever.compute_similar`, the very ranking a request computes, so a
stored list equals the one a request would compute on the same indexes.

**New papers in older lists.** A paper stored later is missing from the lists computed
before it. The fused score (dense cosine + tf-idf cosine) is symmetric, so when a new
paper P's list holds Q with score s, P belongs in Q's list if s beats Q's last entry:
P is inserted there (ranks unknown, stored as 0) and Q's row rewritten, with no search.
What this cannot do: drop a paper from a list after it changed or left (a deleted
paper is dropped when the page loads the hits), or follow the small drift of idf as
the corpus grows; the lists of changed papers are computed again.

Rows are written a chunk of :data:`CHUNK` lists at a time (one segment each), so a
killed run keeps what it finished.

**Both cores.** A list is a dense search, a BM25 search, a rerank of vector reads and a
tf-idf cosine; most of it (tantivy, usearch, NumPy, the reads) runs with the GIL
released. ``workers`` threads compute a chunk's lists at once, each running its BM25
half itself rather than handing it to the search side pool (which a request uses to
overlap the two halves): on 2 cores at 200,000 papers, 2 threads computed ~1.3x the
lists a second that 1 thread with the side pool did (``bench/lists_rate.py``). The
lists do not depend on the number of threads: each is the same pure function of the
indexes, and the results are written in the chunk's order.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from paperlens.index.neighbours import (
    WIDTH,
    Entry,
    NeighbourIndex,
    empty_rows,
    row_entries,
    set_entries,
)
from paperlens.search.engine import IndexNotBuilt, Retriever
from paperlens.store.papers import PaperStore, StoredPaper, embedding_text

#: Lists computed between two writes.
CHUNK = 2000

Progress = Callable[[str, int, int | None], None]


def _noop(_step: str, _done: int, _total: int | None) -> None:
    return None


def update_lists(
    retriever: Retriever,
    store: PaperStore,
    lists: NeighbourIndex,
    budget: int,
    progress: Progress | None = None,
    *,
    only: Sequence[int] | None = None,
    workers: int = 1,
) -> int:
    """Compute and store the lists that are due, newest papers first, at most
    ``budget`` (of the papers in ``only``, when given), ``workers`` at a time; returns
    how many were computed."""
    if budget <= 0:
        return 0
    progress = progress or _noop
    key = retriever.lists_key()
    pks, seqs = store.live_by_recency()
    pk_arr = np.asarray(pks, dtype=np.int64)
    seq_arr = np.asarray(seqs, dtype=np.int64)
    due = seq_arr > lists.computed(pk_arr, key)
    if only is not None:
        due &= np.isin(pk_arr, np.asarray(only, dtype=np.int64))
    # Papers written after every stored list (a harvest, a submission) first, then the
    # backlog; newest first within each (``pks`` comes newest first).
    arrived = seq_arr > lists.newest_computed(key)
    order = np.concatenate([np.flatnonzero(due & arrived), np.flatnonzero(due & ~arrived)])
    order = order[:budget]
    todo = list(zip(pk_arr[order].tolist(), seq_arr[order].tolist(), strict=True))
    done = 0
    pool = (
        ThreadPoolExecutor(workers, thread_name_prefix="paperlens-lists") if workers > 1 else None
    )
    try:
        for start in range(0, len(todo), CHUNK):
            chunk = todo[start : start + CHUNK]
            papers = store.get_by_pks(pk for pk, _ in chunk)
            computed = _compute(retriever, [(pk, papers.get(pk)) for pk, _ in chunk], pool)
            rows = empty_rows(len(chunk))
            fresh: dict[int, list[Entry]] = {}
            for i, ((pk, seq), entries) in enumerate(zip(chunk, computed, strict=True)):
                if entries is None:
                    continue
                rows[i]["pk"], rows[i]["computed"] = pk, seq
                set_entries(rows[i], entries)
                fresh[pk] = entries
                done += 1
            rows = rows[rows["pk"] != 0]
            lists.write(np.concatenate([rows, _offered(fresh, lists, key)]), key)
            progress("similar", done, len(todo))
    finally:
        if pool is not None:
            pool.shutdown()
    return done


def _compute(
    retriever: Retriever,
    papers: Sequence[tuple[int, StoredPaper | None]],
    pool: ThreadPoolExecutor | None,
) -> list[list[Entry] | None]:
    """Each paper's list, in order (``None`` for a deleted or not yet embedded paper),
    on ``pool``'s threads when there is one."""

    def one(item: tuple[int, StoredPaper | None]) -> list[Entry] | None:
        pk, stored = item
        if stored is None or stored.deleted:
            return None
        text = embedding_text(stored.paper.title, stored.paper.abstract)
        try:
            hits = retriever.compute_similar(pk, WIDTH, text, beside=pool is None)
        except IndexNotBuilt:  # not embedded yet: the next run
            return None
        return [(h.pk, h.score, h.lexical_rank, h.semantic_rank) for h in hits]

    if pool is None or len(papers) < 2:
        return [one(item) for item in papers]
    # The first list loads what the retriever opens lazily (term vectors, the dense
    # index) in this thread, before the workers share it.
    first = one(papers[0])
    return [first, *pool.map(one, papers[1:])]


def _offered(fresh: dict[int, list[Entry]], lists: NeighbourIndex, key: str) -> np.ndarray:
    """Rows of stored lists that the lists just computed (``fresh``) add themselves to:
    P enters Q's list when P's list holds Q with a score above Q's last entry (or Q's
    list is not full); a P already there takes its new score."""
    offers: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for p, entries in fresh.items():
        for q, score, _lex, _sem in entries:
            if q not in fresh:
                offers[q].append((p, score))
    rows = empty_rows(len(offers))
    n = 0
    for q, offered in offers.items():
        row = lists.row(q, key)
        if row is None:
            continue
        entries = row_entries(row)
        at = {e[0]: i for i, e in enumerate(entries)}
        worst = entries[-1][1] if len(entries) >= WIDTH else -math.inf
        changed = False
        for p, score in offered:
            if p in at:
                old = entries[at[p]]
                if old[1] != score:
                    entries[at[p]] = (p, score, old[2], old[3])
                    changed = True
            elif score > worst:
                entries.append((p, score, None, None))
                changed = True
        if not changed:
            continue
        entries.sort(key=lambda e: -e[1])
        rows[n]["pk"], rows[n]["computed"] = q, row["computed"]
        set_entries(rows[n], entries)
        n += 1
    return rows[:n]
