"""What pages that list papers share: the community parts of a listing (vote counts in
one query per page, the reader's own votes and saves, the submitter) and the
``<link rel="alternate">`` feed links of a page, and what the paper buttons' POST
forms share (the paper they name, the page to go back to)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse

from paperlens import cite
from paperlens.core import PaperLens
from paperlens.paper import Paper
from paperlens.web.deps import current_user, lens_of
from paperlens.web.rendering import local_path
from paperlens.web.security import clean_id


def listing_context(request: Request, pks: Iterable[int]) -> dict[str, Any]:
    """``votes`` and ``comment_counts`` (pk -> count) and, for a signed-in reader, ``my_votes`` and
    ``my_saved`` (sets of pks), for the vote and save buttons of ``paper_item``."""
    wanted = list(pks)
    lens = lens_of(request)
    user = current_user(request)
    return {
        "votes": lens.community.counts(wanted),
        "comment_counts": lens.discussions.counts(wanted),
        "my_votes": lens.community.voted_by(user.pk, wanted) if user else set(),
        "my_saved": lens.library.saved_among(user.pk, wanted) if user else set(),
    }


def paper_extras(request: Request, paper_pk: int) -> dict[str, Any]:
    """The paper page's community parts: who submitted it, the reader's collections."""
    lens = lens_of(request)
    user = current_user(request)
    return {
        "submission": lens.community.submission(paper_pk),
        "my_collections": lens.library.collections(user.pk) if user else [],
        **listing_context(request, [paper_pk]),
    }


def cite_context(p: Paper) -> list[dict[str, str]]:
    """The paper page's Cite panel: each format's label, text and download link."""
    path = f"/paper/{quote(p.id, safe='/:')}/cite"
    return [
        {
            "name": f.name,
            "label": f.label,
            "text": cite.render([p], f.name),
            "href": f"{path}.{f.extension}",
        }
        for f in cite.FORMATS.values()
    ]


def code_context(request: Request, papers: dict[int, Paper]) -> dict[str, Any]:
    """``code`` (pk -> :class:`~paperlens.code.CodeView`: repository, stars, summary,
    keywords) for the papers of a page, and ``now`` for the stars' age."""
    return {"code": lens_of(request).code.views(papers), "now": datetime.now(UTC)}


def feed_links(path: str, title: str) -> list[tuple[str, str]]:
    """``<link rel="alternate">`` entries for a page's template (see base.html)."""
    sep = "&" if "?" in path else "?"
    return [(f"{title} (Atom)", path), (f"{title} (RSS)", f"{path}{sep}format=rss")]


def paper_of_form(lens: PaperLens, values: dict[str, str]) -> tuple[int, str]:
    """The stored pk and id of the form's ``paper`` field (``PaperNotFound``: a 404)."""
    stored = lens.paper(clean_id(values.get("paper", "")))
    return stored.pk, stored.paper.id


def back(values: dict[str, str], default: str = "/") -> RedirectResponse:
    """A redirect to the form's ``next`` page (on this site only), else ``default``."""
    return RedirectResponse(local_path(values.get("next") or default), status_code=303)


def author_extras(request: Request, paper_pk: int, paper_id: str) -> dict[str, Any]:
    """The paper page's author and citation parts: approved authorship claims, the
    reader's own claim, and the stored citation data (never fetched here)."""
    lens = lens_of(request)
    user = current_user(request)
    cites = lens.citations.view(paper_pk, paper_id)
    return {
        "claims": lens.authors.approved_claims(paper_pk),
        "my_claim": lens.authors.my_claim(user.pk, paper_pk) if user else None,
        "cites": cites,
        "cites_age": age_text(cites.counts.fetched_at) if cites.counts else "",
    }


def age_text(when: datetime, now: datetime | None = None) -> str:
    """How long ago ``when`` was, for people: "just now", "5 hours ago", "2 days ago"."""
    seconds = ((now or datetime.now(UTC)) - when).total_seconds()
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = int(seconds // size)
            return f"{n} {unit}{'' if n == 1 else 's'} ago"
    return "just now"
