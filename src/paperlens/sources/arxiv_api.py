"""The arXiv API (an Atom feed): fetch given papers by id.

``GET {base}?id_list=a,b,c&max_results=N`` answers one ``<entry>`` a paper: ``<id>``
``http://arxiv.org/abs/2106.09685v2`` (the canonical id and the latest version),
``published`` (v1), ``updated`` (latest version), ``title``, ``summary``,
``author/name``, ``arxiv:primary_category`` and ``category term=``, ``arxiv:doi``,
``arxiv:journal_ref``, ``arxiv:comment`` and ``link``s. An id arXiv does not have is
missing from the feed; an id it cannot read makes it answer with a single error
``<entry>`` whose id is ``http://arxiv.org/api/errors#...``.

:class:`ArxivApiSource` asks for at most 100 ids a request; its positions are the
index of the next chunk. :func:`fetch_paper` fetches one paper (for the "submit a
paper" feature).
"""

from __future__ import annotations

import hashlib
import logging
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import UTC, datetime

from paperlens.arxiv_ids import BadArxivId, parse_arxiv_id
from paperlens.config import Settings
from paperlens.errors import NotFound
from paperlens.paper import Paper, Version, make_paper
from paperlens.sources.base import Entry, Parsed, Rejected, SourceError
from paperlens.sources.http import PoliteClient, client_or_default, xml_root

log = logging.getLogger(__name__)

SOURCE = "arxiv-api"
MAX_CHUNK = 100
ATOM_NS = "http://www.w3.org/2005/Atom"
ARXIV_NS = "http://arxiv.org/schemas/atom"
ERROR_ID_PREFIX = "http://arxiv.org/api/errors"
_ATOM = f"{{{ATOM_NS}}}"
_ARXIV = f"{{{ARXIV_NS}}}"


class NotOnArxiv(NotFound):
    """arXiv has no usable record for the id asked for."""


def _atom_time(value: str | None, name: str) -> datetime | None:
    if value is None or not value.strip():
        return None
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"bad {name} time {value!r}") from None
    return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)


def parse_entry(entry: ET.Element) -> Paper:
    """Build a paper from one Atom ``<entry>``; raises ``ValueError`` naming the problem."""
    paper_id, version = parse_arxiv_id(entry.findtext(f"{_ATOM}id") or "")
    published = _atom_time(entry.findtext(f"{_ATOM}published"), "published")
    updated = _atom_time(entry.findtext(f"{_ATOM}updated"), "updated")
    versions: list[Version] = []
    if version is not None:
        versions.append(Version(1, published))
        if version > 1:
            versions.append(Version(version, updated))
    categories: list[str] = []
    primary = entry.find(f"{_ARXIV}primary_category")
    if primary is not None and primary.get("term"):
        categories.append(primary.get("term") or "")
    categories += [c.get("term") or "" for c in entry.iterfind(f"{_ATOM}category")]
    links: dict[str, str] = {}
    for link in entry.iterfind(f"{_ATOM}link"):
        href = link.get("href")
        if not href:
            continue
        if link.get("rel") == "alternate":
            links["abs"] = href
        elif link.get("title") == "pdf":
            links["pdf"] = href
    return make_paper(
        id=paper_id,
        title=entry.findtext(f"{_ATOM}title") or "",
        abstract=entry.findtext(f"{_ATOM}summary") or "",
        authors=[a.findtext(f"{_ATOM}name") or "" for a in entry.iterfind(f"{_ATOM}author")],
        categories=categories,
        published=published,
        updated=updated,
        versions=versions,
        doi=entry.findtext(f"{_ARXIV}doi"),
        journal_ref=entry.findtext(f"{_ARXIV}journal_ref"),
        comments=entry.findtext(f"{_ARXIV}comment"),
        source=SOURCE,
        links=links,
    )


def _names(error_id: str, summary: str, arxiv_id: str) -> bool:
    """Does an API error (``#incorrect_id_format_for_X``) name this id?"""
    return error_id.endswith(f"_for_{arxiv_id}") or arxiv_id in summary.split()


class ArxivApiSource:
    """Fetches the given arXiv ids (any form :func:`parse_arxiv_id` reads; versions are
    dropped, the latest version is fetched) in chunks of ``chunk_size`` (at most 100).

    Ids that are not arXiv ids are rejected before any request. Positions are the
    index of the next chunk, as a string.
    """

    def __init__(
        self,
        ids: Iterable[str],
        base_url: str | None = None,
        *,
        client: PoliteClient | None = None,
        chunk_size: int = MAX_CHUNK,
    ) -> None:
        if not 1 <= chunk_size <= MAX_CHUNK:
            raise ValueError(f"chunk_size must be between 1 and {MAX_CHUNK}")
        self.base_url = base_url or Settings().arxiv_api_base_url
        self.chunk_size = chunk_size
        self._client = client
        self.ids: list[str] = []  # canonical, in order, without duplicates
        self.bad_ids: list[tuple[str, str]] = []  # (as given, why)
        seen: set[str] = set()
        for raw in ids:
            try:
                canonical, _ = parse_arxiv_id(raw)
            except BadArxivId as exc:
                self.bad_ids.append((raw, str(exc)))
                continue
            if canonical not in seen:
                seen.add(canonical)
                self.ids.append(canonical)

    @property
    def chunks(self) -> list[list[str]]:
        size = self.chunk_size
        return [self.ids[i : i + size] for i in range(0, len(self.ids), size)]

    @property
    def key(self) -> str:
        digest = hashlib.blake2b(",".join(self.ids).encode(), digest_size=8).hexdigest()
        return f"{SOURCE}:{self.base_url}:{len(self.ids)}ids:{digest}:chunk{self.chunk_size}"

    def entries(self, resume_from: str | None = None) -> Iterator[Entry]:
        start = 0
        if resume_from:
            try:
                start = int(resume_from)
            except ValueError:
                raise SourceError(f"not an arXiv API position: {resume_from!r}") from None
        else:
            for raw, why in self.bad_ids:
                yield Rejected(raw, why)
        chunks = self.chunks
        if start >= len(chunks):
            return
        with client_or_default(self._client) as client:
            for index in range(start, len(chunks)):
                results = self._fetch(client, chunks[index])
                for n, result in enumerate(results, 1):
                    if n == len(results):
                        yield replace(result, position=str(index + 1))
                    else:
                        yield result

    def _fetch(self, client: PoliteClient, ids: list[str]) -> list[Parsed | Rejected]:
        """One result per id, in order. When arXiv refuses a request naming an id, that
        id is rejected and the others are asked for again."""
        found: dict[str, Parsed | Rejected] = {}
        pending = list(ids)
        while pending:
            response = client.get(
                self.base_url, {"id_list": ",".join(pending), "max_results": str(len(pending))}
            )
            errors: list[tuple[str, str]] = []
            for entry in xml_root(response).iterfind(f"{_ATOM}entry"):
                raw_id = (entry.findtext(f"{_ATOM}id") or "").strip()
                if raw_id.startswith(ERROR_ID_PREFIX):
                    summary = " ".join((entry.findtext(f"{_ATOM}summary") or raw_id).split())
                    errors.append((raw_id, summary))
                    continue
                try:
                    canonical, _ = parse_arxiv_id(raw_id)
                except BadArxivId:
                    log.warning("%s: ignoring an entry with id %r", response.url, raw_id)
                    continue
                if canonical not in pending:
                    log.warning("%s: ignoring %s, which was not asked for", response.url, raw_id)
                    continue
                try:
                    found[canonical] = Parsed(parse_entry(entry), canonical)
                except ValueError as exc:
                    found[canonical] = Rejected(canonical, str(exc))
            pending = [i for i in pending if i not in found]
            if not errors:
                for i in pending:
                    found[i] = Rejected(i, f"arXiv has no paper {i}")
                break
            named = [i for i in pending if any(_names(e, s, i) for e, s in errors)]
            for i in named or pending:
                summary = next((s for e, s in errors if _names(e, s, i)), errors[0][1])
                found[i] = Rejected(i, summary)
            pending = [i for i in pending if i not in found]
        return [found[i] for i in ids]


def fetch_paper(
    arxiv_id: str,
    settings_or_client: Settings | PoliteClient | None = None,
    *,
    base_url: str | None = None,
) -> Paper:
    """Fetch one paper's latest version from the arXiv API.

    Raises :class:`~paperlens.arxiv_ids.BadArxivId` (a ``ValueError``) for text that
    is not an arXiv id, :class:`NotOnArxiv` when arXiv has no usable record, and
    :class:`SourceError` when arXiv cannot be reached. With :class:`Settings` (or
    nothing) a client is made from them and closed afterwards; a given client is
    used as is.
    """
    canonical, _ = parse_arxiv_id(arxiv_id)
    given = settings_or_client if isinstance(settings_or_client, PoliteClient) else None
    settings = settings_or_client if isinstance(settings_or_client, Settings) else Settings()
    url = base_url or settings.arxiv_api_base_url
    active = given if given is not None else PoliteClient.from_settings(settings)
    try:
        for entry in ArxivApiSource([canonical], url, client=active).entries():
            if isinstance(entry, Parsed):
                return entry.paper
            if isinstance(entry, Rejected):
                raise NotOnArxiv(f"{canonical}: {entry.reason}")
    finally:
        if given is None:
            active.close()
    raise NotOnArxiv(f"{canonical}: arXiv has no paper {canonical}")  # pragma: no cover
