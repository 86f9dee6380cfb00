"""arXiv's OAI-PMH interface, the route for bulk and incremental harvesting.

``verb=ListRecords&metadataPrefix=arXiv`` with optional ``from``/``until`` (days) and
``set`` returns pages of records ending in a ``<resumptionToken>``; the next page is
``verb=ListRecords&resumptionToken=TOKEN`` and the last page has an empty token.
An empty range is ``<error code="noRecordsMatch">``, not a failure.

Each record has a ``<header>`` (``oai:arXiv.org:ID``, datestamp, setSpec, or
``status="deleted"``) and ``<metadata><arXiv xmlns="http://arxiv.org/OAI/arXiv/">``.
That format has ``created`` (v1) and ``updated`` (latest version) dates but no version
list, so papers from here carry ``published``/``updated`` and no versions.

Positions are resumption tokens: the token of the next page rides on the last entry
of each page (a :class:`Checkpoint` when a page has none), and the final page's
entries carry none. Resuming with an expired token restarts the harvest from the
beginning, which is safe because ingest is idempotent.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from urllib.parse import urlencode

from paperlens.arxiv_ids import parse_arxiv_id
from paperlens.config import Settings
from paperlens.paper import Paper, make_paper
from paperlens.sources.base import Checkpoint, Deleted, Entry, Parsed, Rejected, SourceError
from paperlens.sources.http import PoliteClient, client_or_default, xml_root
from paperlens.sources.snapshot import author_name
from paperlens.text import normalise_whitespace

log = logging.getLogger(__name__)

SOURCE = "arxiv-oai"
OAI_NS = "http://www.openarchives.org/OAI/2.0/"
ARXIV_NS = "http://arxiv.org/OAI/arXiv/"
_O = f"{{{OAI_NS}}}"
_A = f"{{{ARXIV_NS}}}"

Record = Parsed | Rejected | Deleted


def _day(value: date | str | None, name: str) -> str | None:
    """``YYYY-MM-DD`` for a date, a datetime or an ISO date string (arXiv's granularity)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    try:
        return date.fromisoformat(value.strip()).isoformat()
    except ValueError:
        raise ValueError(f"{name} must be a date (YYYY-MM-DD), not {value!r}") from None


def _oai_date(value: str | None, name: str) -> datetime | None:
    """``2021-06-17`` -> midnight UTC that day."""
    if value is None:
        return None
    try:
        return datetime.combine(date.fromisoformat(value), datetime.min.time(), tzinfo=UTC)
    except ValueError:
        raise ValueError(f"bad {name} date {value!r}") from None


def _text(element: ET.Element, path: str) -> str | None:
    value = element.findtext(path)
    if value is None or not value.strip():
        return None
    return value


def parse_metadata(meta: ET.Element) -> Paper:
    """Build a paper from one ``<arXiv xmlns="http://arxiv.org/OAI/arXiv/">`` element;
    raises ``ValueError`` naming what is wrong."""
    raw_id = _text(meta, f"{_A}id")
    if raw_id is None:
        raise ValueError("missing id")
    paper_id, _ = parse_arxiv_id(raw_id)
    title = _text(meta, f"{_A}title")
    if title is None:
        raise ValueError("missing title")
    authors = [
        author_name(
            [
                author.findtext(f"{_A}keyname") or "",
                author.findtext(f"{_A}forenames") or "",
                author.findtext(f"{_A}suffix") or "",
            ]
        )
        for author in meta.iterfind(f"{_A}authors/{_A}author")
    ]
    return make_paper(
        id=paper_id,
        title=title,
        abstract=_text(meta, f"{_A}abstract") or "",
        authors=authors,
        categories=(_text(meta, f"{_A}categories") or "").split(),
        published=_oai_date(_text(meta, f"{_A}created"), "created"),
        updated=_oai_date(_text(meta, f"{_A}updated"), "updated"),
        doi=_text(meta, f"{_A}doi"),
        journal_ref=_text(meta, f"{_A}journal-ref"),
        comments=_text(meta, f"{_A}comments"),
        license=_text(meta, f"{_A}license"),
        source=SOURCE,
    )


def parse_record(record: ET.Element) -> Record:
    """One OAI ``<record>``: a paper, a deletion, or a rejection naming the record."""
    header = record.find(f"{_O}header")
    identifier = (header.findtext(f"{_O}identifier") or "").strip() if header is not None else ""
    where = f"record {identifier or '(no identifier)'}"
    try:
        if header is None:
            raise ValueError("no header")
        if header.get("status") == "deleted":
            if not identifier:
                raise ValueError("deleted record without an identifier")
            paper_id, _ = parse_arxiv_id(identifier)
            return Deleted(paper_id, where)
        meta = record.find(f"{_O}metadata/{_A}arXiv")
        if meta is None:
            raise ValueError("no arXiv metadata (expected metadataPrefix=arXiv)")
        return Parsed(parse_metadata(meta), where)
    except ValueError as exc:
        return Rejected(where, str(exc))


class OaiSource:
    """Harvests ``ListRecords`` from an OAI-PMH base URL (arXiv's by default).

    ``from_date``/``until_date`` bound the record datestamps (inclusive days) and
    ``set_spec`` picks an arXiv set (``cs``, ``physics:hep-th``, ...). Positions are
    resumption tokens (see the module docstring).
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        from_date: date | str | None = None,
        until_date: date | str | None = None,
        set_spec: str | None = None,
        client: PoliteClient | None = None,
    ) -> None:
        self.base_url = base_url or Settings().oai_base_url
        self.from_date = _day(from_date, "from_date")
        self.until_date = _day(until_date, "until_date")
        if self.from_date and self.until_date and self.from_date > self.until_date:
            raise ValueError(f"from_date {self.from_date} is after until_date {self.until_date}")
        self.set_spec = set_spec.strip() if set_spec and set_spec.strip() else None
        self._client = client

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        from_date: date | str | None = None,
        until_date: date | str | None = None,
        set_spec: str | None = None,
        client: PoliteClient | None = None,
    ) -> OaiSource:
        return cls(
            settings.oai_base_url,
            from_date=from_date,
            until_date=until_date,
            set_spec=set_spec,
            client=client,
        )

    def _query(self) -> dict[str, str]:
        params = {"verb": "ListRecords", "metadataPrefix": "arXiv"}
        if self.from_date:
            params["from"] = self.from_date
        if self.until_date:
            params["until"] = self.until_date
        if self.set_spec:
            params["set"] = self.set_spec
        return params

    @property
    def key(self) -> str:
        return f"{SOURCE}:{self.base_url}?{urlencode(sorted(self._query().items()))}"

    def entries(self, resume_from: str | None = None) -> Iterator[Entry]:
        with client_or_default(self._client) as client:
            yield from self._harvest(client, resume_from or None)

    def _harvest(self, client: PoliteClient, resume_from: str | None) -> Iterator[Entry]:
        token = resume_from
        first = True
        while True:
            params = {"verb": "ListRecords", "resumptionToken": token} if token else self._query()
            response = client.get(self.base_url, params)
            root = xml_root(response)
            error = root.find(f"{_O}error")
            if error is not None:
                code = error.get("code") or "unknown"
                message = normalise_whitespace(error.text or "")
                if code == "noRecordsMatch":
                    return
                if code == "badResumptionToken" and first and resume_from:
                    log.warning(
                        "OAI-PMH rejected the saved resumption token %r (%s); "
                        "restarting the harvest from the beginning",
                        resume_from,
                        message,
                    )
                    token, first = None, False
                    continue
                raise SourceError(f"OAI-PMH error {code} from {response.url}: {message}")
            first = False
            listing = root.find(f"{_O}ListRecords")
            if listing is None:
                raise SourceError(f"{response.url}: no ListRecords and no error in the response")
            next_token = (listing.findtext(f"{_O}resumptionToken") or "").strip() or None
            page = [parse_record(r) for r in listing.iterfind(f"{_O}record")]
            if page:
                page[-1] = replace(page[-1], position=next_token)
                yield from page
            elif next_token:
                yield Checkpoint(next_token)
            if next_token is None:
                return
            token = next_token
