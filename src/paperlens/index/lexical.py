"""BM25 over title (boosted), abstract and authors, with filter fields, on tantivy.

Documents are keyed by the store's integer ``pk``. Text is indexed LaTeX-stripped,
lower-cased, ASCII-folded (``Balázs`` matches ``Balazs``) and, for title and abstract,
stemmed. ``categories`` holds each category and its archive (``cs.LG`` and ``cs``), so a
filter on ``cs`` takes every computer-science paper. ``day`` is the first-version date
as days since 1970-01-01, for date-range filters. A paper that links a code repository
also carries the term :data:`HAS_CODE_TERM` in ``categories`` (no arXiv category has a
colon), so "has code" is one term filter like a category. The state file records the
document :data:`FORMAT`; an index written in an older format reports ``seq`` 0, so the
next ``paperlens index`` rewrites every document once (adding the term) instead of
filtering on a term old documents lack.

Counting. Counting every match makes tantivy visit every posting of every query term
(it turns off block-max WAND, which skips blocks that cannot reach the top ``limit``):
at a million papers that was most of a BM25 query's time. :meth:`LexicalIndex.search`
therefore takes ``total``: ``"exact"`` counts, ``"estimate"`` (the default) does not
and gives :meth:`LexicalIndex.estimate` instead, ``"none"`` gives only a lower bound
(callers that use the hits alone). A total is still exact, at no cost, when the page
comes back short (fewer hits than asked: the matches end on it); a page past the end
is counted exactly, so it can say how many there were. ``LexicalHits.exact`` says which.

Function words. A plain query (no syntax) looks up its words but not English function
words (:data:`FUNCTION_WORDS`: ``of``, ``for``, ``the``...) unless it has no other word.
They are in nearly every abstract, so their postings were most of a BM25 query's time
(200,000 papers: p50 2.5 ms with one, 0.6 ms without one or once it is dropped), and
they scored next to nothing (bench/README.md, "Plain-query forms"). The total, counted
or estimated, is of the same words, so "about N" counts the papers the page is drawn
from. Phrases (``"analysis of variance"``), other syntax and split words
(``state-of-the-art``) keep them.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal, cast

import tantivy

from paperlens.filters import SearchFilters
from paperlens.links import has_code, paper_links
from paperlens.store.papers import StoredPaper
from paperlens.text import fold, strip_latex

STEMMED = "en_fold_stem"
FOLDED = "fold"
TITLE_BOOST = 2.5
#: Tokens longer than this (base64 blobs, URLs) are not indexed.
MAX_TOKEN = 40
_EPOCH = date(1970, 1, 1)
#: The ``categories`` term of papers with a code link (see paperlens.links).
HAS_CODE_TERM = "paperlens:has-code"
#: What documents hold; bumped when a field or term is added (2: HAS_CODE_TERM).
FORMAT = 2
#: Words a plain query does not look up when it has another (module docstring).
FUNCTION_WORDS = frozenset(
    (
        "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "in", "into", "is",
        "it", "of", "on", "or", "over", "the", "their", "this", "to", "under", "via", "vs",
        "what", "when", "which", "with", "without",
    )
)  # fmt: skip
#: The fields a query's bare words are looked up in.
DEFAULT_FIELDS = ("title", "abstract", "authors")
#: How a search's total is found (see the module docstring).
TotalMode = Literal["exact", "estimate", "none"]
#: Characters and words that make a query use tantivy's syntax (phrases, fields, boosts,
#: ranges, ``+must``/``-not``, operators); a query without any is "plain".
_SYNTAX = re.compile(r"""["'():^*~\[\]{}\\!<>=]|(?:^|\s)[+-]|\b(?:AND|OR|NOT|IN)\b""")


def day_number(d: date) -> int:
    return (d - _EPOCH).days


def _analyzer(stem: bool) -> tantivy.TextAnalyzer:
    builder = (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(MAX_TOKEN))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.ascii_fold())
    )
    if stem:
        builder = builder.filter(tantivy.Filter.stemmer("english"))
    return builder.build()


def _schema() -> tantivy.Schema:
    sb = tantivy.SchemaBuilder()
    sb.add_integer_field("pk", stored=True, indexed=True, fast=True)
    sb.add_text_field("title", tokenizer_name=STEMMED)
    sb.add_text_field("abstract", tokenizer_name=STEMMED)
    sb.add_text_field("authors", tokenizer_name=FOLDED)
    sb.add_text_field("categories", tokenizer_name="raw")
    sb.add_integer_field("day", indexed=True, fast=True)
    return sb.build()


def category_terms(categories: Iterable[str]) -> list[str]:
    """``["cs.LG", "stat.ML"]`` -> ``["cs.LG", "cs", "stat.ML", "stat"]``."""
    terms: list[str] = []
    for c in categories:
        for t in (c, c.split(".", 1)[0]):
            if t not in terms:
                terms.append(t)
    return terms


@dataclass(frozen=True, slots=True)
class LexicalHits:
    hits: list[tuple[int, float]]  # (pk, BM25 score), best first
    total: int  # documents matching the query and filters: counted, or estimated
    exact: bool = True  # whether ``total`` was counted (else an estimate or lower bound)


class LexicalIndex:
    """A tantivy index in ``path``. Writers are single (tantivy holds a lock);
    readers may be many and see a new commit after :meth:`reload`."""

    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.state_path = path / "paperlens-state.json"
        self.schema = _schema()
        self.index = tantivy.Index(self.schema, path=str(path), reuse=True)
        self._stem = _analyzer(stem=True)
        self._fold = _analyzer(stem=False)
        self.index.register_tokenizer(STEMMED, self._stem)
        self.index.register_tokenizer(FOLDED, self._fold)

    # -- writing ----------------------------------------------------------------------

    @property
    def seq(self) -> int:
        """The store change counter this index is current to (0: empty)."""
        try:
            state = json.loads(self.state_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return 0
        return int(state["seq"]) if state.get("format", 1) >= FORMAT else 0

    def _save_seq(self, seq: int) -> None:
        tmp = self.state_path.with_name(self.state_path.name + ".tmp")
        tmp.write_text(json.dumps({"seq": seq, "format": FORMAT}), encoding="utf-8")
        os.replace(tmp, self.state_path)

    def apply(
        self,
        changed: Iterable[Sequence[StoredPaper]],
        upto_seq: int,
        *,
        commit_every: int = 200_000,
        heap_mb: int = 256,
        on_batch: Callable[[int], None] | None = None,
    ) -> int:
        """Bring the index up to date with papers changed since :attr:`seq` (given in
        ``(seq, pk)`` order): replace each live paper's document, drop deleted ones.

        Commits every ``commit_every`` documents, recording as current the last seq
        whose rows are all written, so an interrupted build resumes rather than
        restarts; re-applying a paper is harmless. Returns documents written."""
        writer = self.index.writer(heap_size=heap_mb * 1_000_000, num_threads=1)
        written = since_commit = 0
        try:
            for batch in changed:
                for sp in batch:
                    writer.delete_documents_by_term("pk", sp.pk)
                    if not sp.deleted:
                        writer.add_document(self._document(sp))
                        written += 1
                    since_commit += 1
                if on_batch is not None:
                    on_batch(len(batch))
                if since_commit >= commit_every and batch:
                    writer.commit()
                    self._save_seq(batch[-1].seq - 1)
                    since_commit = 0
            writer.commit()
            writer.wait_merging_threads()
        except BaseException:
            writer.rollback()
            raise
        self._save_seq(upto_seq)
        self.index.reload()
        return written

    def _document(self, sp: StoredPaper) -> tantivy.Document:
        p = sp.paper
        doc = tantivy.Document()
        doc.add_integer("pk", sp.pk)
        doc.add_text("title", strip_latex(p.title))
        doc.add_text("abstract", strip_latex(p.abstract))
        for a in p.authors:
            doc.add_text("authors", a)
        for c in category_terms(p.categories):
            doc.add_text("categories", c)
        if has_code(paper_links(p.abstract, p.comments, p.links)):
            doc.add_text("categories", HAS_CODE_TERM)
        if p.published is not None:
            doc.add_integer("day", day_number(p.published.date()))
        return doc

    # -- reading ----------------------------------------------------------------------

    def reload(self) -> None:
        self.index.reload()

    def num_docs(self) -> int:
        return int(self.index.searcher().num_docs)

    def _filter_query(self, filters: SearchFilters) -> list[tuple[tantivy.Occur, tantivy.Query]]:
        must: list[tuple[tantivy.Occur, tantivy.Query]] = []
        if filters.since is not None or filters.until is not None:
            must.append(
                (
                    tantivy.Occur.Must,
                    tantivy.Query.range_query(
                        self.schema,
                        "day",
                        tantivy.FieldType.Integer,
                        day_number(filters.since) if filters.since else None,
                        day_number(filters.until) if filters.until else None,
                    ),
                )
            )
        if filters.categories:
            must.append(
                (
                    tantivy.Occur.Must,
                    tantivy.Query.term_set_query(
                        self.schema, "categories", list(filters.categories)
                    ),
                )
            )
        if filters.has_code:
            must.append(
                (
                    tantivy.Occur.Must,
                    tantivy.Query.term_query(self.schema, "categories", HAS_CODE_TERM),
                )
            )
        if filters.author:
            for token in self._fold.analyze(fold(filters.author)):
                must.append(
                    (tantivy.Occur.Must, tantivy.Query.term_query(self.schema, "authors", token))
                )
        return must

    def _content_words(self, text: str) -> list[str]:
        """The words of a plain query that are looked up: all but the function words
        (:data:`FUNCTION_WORDS`), or all of them when no other word is left."""
        words = text.split()
        kept = [w for w in words if not self._is_function_word(w)]
        return kept if any(self._fold.analyze(w) for w in kept) else words

    def _is_function_word(self, word: str) -> bool:
        tokens = self._fold.analyze(word)
        return len(tokens) == 1 and tokens[0] in FUNCTION_WORDS

    def _plain_query(self, text: str) -> tantivy.Query | None:
        """A query without syntax as one flat OR of term queries over its words less
        the function words (:meth:`_content_words`): what tantivy's parser makes of
        those words, scored the same (a sum either way), minus the nesting. The parser
        nests each word's fields in a boolean query of their own, and tantivy's
        block-max WAND (skipping documents that cannot reach the top hits) runs only
        over a flat union of terms: flat, a BM25 page at 200,000 papers took 2.4 ms
        instead of 16 ms (bench/README.md, "scale.py"). A word the analysers split
        (``self-supervised``) is a phrase, as the parser makes it (such a query is not
        pruned). ``None`` when ``text`` uses syntax, or has no words."""
        if _SYNTAX.search(text):
            return None
        clauses: list[tuple[tantivy.Occur, tantivy.Query]] = []
        seen: set[tuple[str, ...]] = set()  # the parser counts a repeated word once
        for word in self._content_words(text):
            stems, folded = self._stem.analyze(word), self._fold.analyze(word)
            for field, tokens, boost in (
                ("title", stems, TITLE_BOOST),
                ("abstract", stems, 1.0),
                ("authors", folded, 1.0),
            ):
                if not tokens or (field, *tokens) in seen:
                    continue
                seen.add((field, *tokens))
                if len(tokens) == 1:
                    q = tantivy.Query.term_query(self.schema, field, tokens[0])
                else:
                    words: list[str | tuple[int, str]] = list(tokens)
                    q = tantivy.Query.phrase_query(self.schema, field, words)
                if boost != 1.0:
                    q = tantivy.Query.boost_query(q, boost)
                clauses.append((tantivy.Occur.Should, q))
        return tantivy.Query.boolean_query(clauses) if clauses else None

    def text_query(self, text: str) -> tantivy.Query | None:
        """The reader's query in tantivy's syntax (``"a phrase"``, ``+must``, ``-not``,
        ``title:word``), parsed leniently: syntax errors never fail a search. Plain
        queries are built flat (:meth:`_plain_query`). :meth:`search` of the result
        ranks as :meth:`search` of ``text`` does (hybrid search parses on the caller's
        thread and searches on another); ``None`` when ``text`` has no words."""
        plain = self._plain_query(text)
        if plain is not None:
            return plain
        query, _errors = self.index.parse_query_lenient(
            text,
            default_field_names=list(DEFAULT_FIELDS),
            field_boosts={"title": TITLE_BOOST},
        )
        return query

    def terms_query(self, text: str, max_terms: int = 64) -> tantivy.Query:
        """An OR of the analysed terms of ``text`` over title and abstract (no syntax):
        used to rank papers by lexical similarity to another paper's text."""
        tokens = list(dict.fromkeys(self._stem.analyze(strip_latex(text))))[:max_terms]
        clauses: list[tuple[tantivy.Occur, tantivy.Query]] = []
        for t in tokens:
            for field, boost in (("title", TITLE_BOOST), ("abstract", 1.0)):
                q = tantivy.Query.term_query(self.schema, field, t)
                clauses.append((tantivy.Occur.Should, tantivy.Query.boost_query(q, boost)))
        return tantivy.Query.boolean_query(clauses) if clauses else tantivy.Query.empty_query()

    def _run(
        self,
        query: tantivy.Query,
        limit: int,
        offset: int = 0,
        order_by_field: str | None = None,
        *,
        count: bool = True,
    ) -> LexicalHits:
        """Run ``query``; hits carry the BM25 score (0.0 when ordered by a field). With
        ``count`` false the total is exact only when the page came back short, else it
        is the lower bound ``offset + len(hits)`` (``exact`` false)."""
        searcher = self.index.searcher()
        result = searcher.search(
            query, limit=max(1, limit), count=count, offset=offset, order_by_field=order_by_field
        )
        hits = result.hits[:limit]
        pks = searcher.fast_field_values("pk", [addr for _k, addr in hits]) if hits else []
        scores = [0.0 if order_by_field else float(k) for k, _addr in hits]
        found = [(int(cast(int, pk)), score) for pk, score in zip(pks, scores, strict=True)]
        if count:
            total = cast(Any, result).count  # present at runtime, missing from the type stub
            return LexicalHits(found, int(total or 0))
        # A short page (and not an empty one past the end) ends the matches.
        short = len(result.hits) < max(1, limit) and (bool(found) or offset == 0)
        return LexicalHits(found, offset + len(found), exact=short)

    def estimate(self, text: str) -> int:
        """About how many documents the bare words of ``text`` match, from document
        frequencies alone (no postings are read): each word's frequency is the largest
        over the fields it is looked up in (a title's words are mostly in its abstract
        too), and the words are taken as independent, so the union is
        ``N * (1 - prod(1 - df/N))``. It is at least the largest frequency, which is a
        lower bound for a plain query (any one word matches). A plain query's function
        words are left out, as the query leaves them. It ignores query syntax (phrases,
        ``+must``, ``-not`` narrow the matches) and counts deleted documents not yet
        merged away. bench/scale.py reports its ratio to the true count."""
        searcher = self.index.searcher()
        n = int(searcher.num_docs)
        if n == 0:
            return 0
        if not _SYNTAX.search(text):
            text = " ".join(self._content_words(text))
        # As the query parser sees the words: each field's own analyser, on raw text.
        stems = self._stem.analyze(text)
        folded = self._fold.analyze(text)
        missing = 1.0
        seen: set[tuple[str, str]] = set()
        for stem, plain in zip(stems, folded, strict=False):
            if (stem, plain) in seen:
                continue
            seen.add((stem, plain))
            df = max(
                searcher.doc_freq("title", stem),
                searcher.doc_freq("abstract", stem),
                searcher.doc_freq("authors", plain),
            )
            missing *= 1.0 - min(df, n) / n
        return round(n * (1.0 - missing))

    def _all_of(self, clauses: list[tuple[tantivy.Occur, tantivy.Query]]) -> tantivy.Query:
        return tantivy.Query.boolean_query(clauses) if clauses else tantivy.Query.all_query()

    def search(
        self,
        text: str | tantivy.Query,
        filters: SearchFilters | None = None,
        limit: int = 10,
        offset: int = 0,
        total: TotalMode = "estimate",
    ) -> LexicalHits:
        """The best ``limit`` matches after ``offset``, and their total: counted
        (``"exact"``), estimated (``"estimate"``: :meth:`estimate` of the words, for a
        ``Query`` the lower bound) or a lower bound (``"none"``). Short pages and pages
        past the end are always exact."""
        query = self.text_query(text) if isinstance(text, str) else text
        clauses = [(tantivy.Occur.Must, query)] if query is not None else []
        clauses += self._filter_query(filters or SearchFilters())
        if not clauses:
            return LexicalHits([], 0)
        # Without filters the query runs as it is: wrapped in a one-clause boolean query
        # it scores the same, but tantivy then scores it through the generic scorer and
        # a page of ten took ~15 % longer at 3M papers (bench/README.md, "scale.py").
        combined = query if query is not None and len(clauses) == 1 else None
        if combined is None:
            combined = tantivy.Query.boolean_query(clauses)
        if total == "exact":
            return self._run(combined, limit, offset)
        found = self._run(combined, limit, offset, count=False)
        if found.exact:
            return found
        if not found.hits and offset > 0:  # past the end: say how many there were
            return self._run(combined, 0)
        if total == "estimate" and isinstance(text, str):
            guess = max(self.estimate(text), found.total)
            return LexicalHits(found.hits, guess, exact=False)
        return found

    def browse(self, filters: SearchFilters, limit: int, offset: int = 0) -> LexicalHits:
        """Papers passing ``filters``, newest first (no query text)."""
        query = self._all_of(self._filter_query(filters))
        return self._run(query, limit, offset, order_by_field="day")

    def filtered_pks(self, filters: SearchFilters, limit: int) -> tuple[list[int], int]:
        """Up to ``limit`` pks of papers passing ``filters``, and how many pass in all."""
        found = self._run(self._all_of(self._filter_query(filters)), limit)
        return [pk for pk, _ in found.hits], found.total

    def count(self, filters: SearchFilters) -> int:
        """How many papers pass ``filters``."""
        return self._run(self._all_of(self._filter_query(filters)), 0).total

    def passing(self, pks: Sequence[int], filters: SearchFilters) -> set[int]:
        """Which of ``pks`` pass ``filters``."""
        if not pks:
            return set()
        clauses = [
            (tantivy.Occur.Must, tantivy.Query.term_set_query(self.schema, "pk", list(pks))),
            *self._filter_query(filters),
        ]
        found = self._run(tantivy.Query.boolean_query(clauses), len(pks), count=False)
        return {pk for pk, _ in found.hits}
