"""The normalised paper record every source produces and every other layer consumes.

A :class:`Paper` is immutable. Sources build one with :func:`make_paper`, which
normalises whitespace, orders categories, fills in arXiv links and computes the
content hash that makes ingest idempotent.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime

import orjson

from paperlens.arxiv_ids import abs_url, is_arxiv_id, pdf_url
from paperlens.text import decode_text_accents, normalise_whitespace

# Bounds on what one record may carry, far above any real paper (arXiv caps abstracts
# at 1,920 characters; the largest collaborations list about 5,000 authors) and far
# below what would slow every page, feed and index that shows the record.
MAX_TITLE_CHARS = 2_000
MAX_ABSTRACT_CHARS = 50_000
MAX_AUTHOR_CHARS = 1_000
MAX_AUTHORS = 20_000


@dataclass(frozen=True, slots=True)
class Version:
    """One arXiv version: ``number`` 1 for v1, with its submission time (UTC)."""

    number: int
    created: datetime | None


@dataclass(frozen=True, slots=True)
class Paper:
    """One paper, normalised.

    ``id`` is the arXiv id without version where there is one (``2106.09685``,
    ``hep-th/9901001``), otherwise a stable id derived by the source
    (see :func:`paperlens.arxiv_ids.title_id`). ``title`` and ``abstract`` keep
    LaTeX for display; :mod:`paperlens.text` strips it for indexing.
    """

    id: str
    title: str
    abstract: str
    authors: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()  # primary first
    published: datetime | None = None  # first version
    updated: datetime | None = None  # last version
    versions: tuple[Version, ...] = ()
    doi: str | None = None
    journal_ref: str | None = None
    comments: str | None = None
    license: str | None = None
    source: str = "unknown"
    links: dict[str, str] = field(default_factory=dict)
    content_hash: str = ""

    @property
    def version(self) -> int | None:
        """The newest version number known, or ``None`` for non-arXiv records."""
        return max((v.number for v in self.versions), default=None)

    @property
    def primary_category(self) -> str | None:
        return self.categories[0] if self.categories else None


def _hash_fields(p: Paper) -> str:
    """A digest of everything a reader sees; the ``source`` is not part of it, so the
    same paper arriving from two sources is unchanged."""
    payload = orjson.dumps(
        [
            p.id,
            p.title,
            p.abstract,
            p.authors,
            p.categories,
            p.published.isoformat() if p.published else None,
            p.updated.isoformat() if p.updated else None,
            [(v.number, v.created.isoformat() if v.created else None) for v in p.versions],
            p.doi,
            p.journal_ref,
            p.comments,
            p.license,
            sorted(p.links.items()),
        ]
    )
    return hashlib.blake2b(payload, digest_size=16).hexdigest()


def _clean_optional(value: str | None) -> str | None:
    if value is None:
        return None
    cleaned = normalise_whitespace(value)
    return cleaned or None


def _bounded(what: str, value: str, limit: int) -> None:
    # Checked before any clean-up, which would otherwise run over all of it.
    if len(value) > limit and len(normalise_whitespace(value)) > limit:
        raise ValueError(f"{what} too long ({len(value):,} characters; at most {limit:,})")


def make_paper(
    *,
    id: str,
    title: str,
    abstract: str,
    authors: list[str] | tuple[str, ...] = (),
    categories: list[str] | tuple[str, ...] = (),
    published: datetime | None = None,
    updated: datetime | None = None,
    versions: list[Version] | tuple[Version, ...] = (),
    doi: str | None = None,
    journal_ref: str | None = None,
    comments: str | None = None,
    license: str | None = None,
    source: str,
    links: dict[str, str] | None = None,
) -> Paper:
    """Build a normalised :class:`Paper`; raises ``ValueError`` naming what is wrong
    (sources turn it into a ``Rejected`` entry)."""
    _bounded("title", title or "", MAX_TITLE_CHARS)
    _bounded("abstract", abstract or "", MAX_ABSTRACT_CHARS)
    if len(authors) > MAX_AUTHORS:
        raise ValueError(f"too many authors ({len(authors):,}; at most {MAX_AUTHORS:,})")
    for name in authors:
        _bounded("author name", name, MAX_AUTHOR_CHARS)
    title = decode_text_accents(normalise_whitespace(title or ""))
    if not title:
        raise ValueError("missing title")
    if not id:
        raise ValueError("missing id")
    abstract = decode_text_accents(normalise_whitespace(abstract or ""))
    authors_t = tuple(a for a in (normalise_whitespace(x) for x in authors) if a)
    cats: list[str] = []
    for c in categories:
        c = c.strip()
        if c and c not in cats:
            cats.append(c)
    versions_t = tuple(sorted({v.number: v for v in versions}.values(), key=lambda v: v.number))
    dated = [v.created for v in versions_t if v.created]
    if published is None and dated:
        published = dated[0]
    if updated is None and dated:
        updated = dated[-1]
    if updated is None:
        updated = published
    all_links = dict(links or {})
    if is_arxiv_id(id):
        all_links.setdefault("abs", abs_url(id))
        all_links.setdefault("pdf", pdf_url(id))
    doi = _clean_optional(doi)
    if doi:
        all_links.setdefault("doi", f"https://doi.org/{doi}")
    paper = Paper(
        id=id,
        title=title,
        abstract=abstract,
        authors=authors_t,
        categories=tuple(cats),
        published=published,
        updated=updated,
        versions=versions_t,
        doi=doi,
        journal_ref=_clean_optional(journal_ref),
        comments=_clean_optional(comments),
        license=_clean_optional(license),
        source=source,
        links=all_links,
    )
    return replace(paper, content_hash=_hash_fields(paper))


def merge(stored: Paper, incoming: Paper) -> Paper:
    """Combine a stored record with a newly ingested one for the same id.

    The newer version wins (an older incoming version never replaces a newer stored
    one); fields the winner lacks are taken from the other record, and the version
    lists are united. Merging is idempotent: ``merge(m, incoming) == m`` once
    ``m = merge(stored, incoming)``, which is what makes re-imports change nothing.
    """
    s_ver, i_ver = stored.version, incoming.version
    incoming_wins = s_ver is None or (i_ver is not None and i_ver >= s_ver)
    if s_ver is None and i_ver is None:
        incoming_wins = True
    win, other = (incoming, stored) if incoming_wins else (stored, incoming)
    versions = {v.number: v for v in other.versions}
    for v in win.versions:
        if v.created is not None or v.number not in versions:
            versions[v.number] = v
    links = {**other.links, **win.links}
    merged = Paper(
        id=win.id,
        title=win.title or other.title,
        abstract=win.abstract or other.abstract,
        authors=win.authors or other.authors,
        categories=win.categories or other.categories,
        published=min((d for d in (win.published, other.published) if d is not None), default=None),
        updated=max((d for d in (win.updated, other.updated) if d is not None), default=None),
        versions=tuple(sorted(versions.values(), key=lambda v: v.number)),
        doi=win.doi or other.doi,
        journal_ref=win.journal_ref or other.journal_ref,
        comments=win.comments or other.comments,
        license=win.license or other.license,
        source=incoming.source,
        links=links,
    )
    merged = replace(merged, content_hash=_hash_fields(merged))
    return stored if merged.content_hash == stored.content_hash else merged
