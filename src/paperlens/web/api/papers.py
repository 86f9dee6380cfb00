"""The REST API, version 1: papers, similar papers, search, the daily feed and stats.

Every handler is a few lines over :class:`PaperLens`. Input is bounded before it
reaches the core (query length, result depth, id length); what the core refuses
(``ValueError``: 400, ``PaperNotFound``: 404, ...) is answered in JSON by
``web/errors.py``.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query

from paperlens.core import MAX_DEPTH, MAX_QUERY_CHARS, Mode, SearchFilters
from paperlens.web.api import paper_key, schemas
from paperlens.web.deps import LensDep
from paperlens.web.security import (
    MAX_AUTHOR_CHARS,
    MAX_CATEGORIES,
    MAX_CATEGORY_CHARS,
    clean_id,
    clean_text,
)

MAX_LIMIT = 50
MAX_SIMILAR = 50
MAX_PAGE = MAX_DEPTH

_NOT_FOUND: schemas.Responses = {404: schemas.error_doc("No such paper.")}

router = APIRouter(prefix="/api/v1", tags=["v1"], responses=schemas.BAD_INPUT)


@router.get(
    "/papers/{paper_id:path}/similar",
    response_model=schemas.SimilarOut,
    responses=_NOT_FOUND,
    summary="Papers most like one paper",
)
def similar(
    lens: LensDep,
    paper_id: str,
    k: Annotated[int, Query(ge=1, le=MAX_SIMILAR, description="How many.")] = 10,
) -> schemas.SimilarOut:
    _pk, key = paper_key(lens, paper_id)
    results = lens.similar(key, k)
    return schemas.SimilarOut(id=key, similar=[schemas.ResultOut.of(r) for r in results])


@router.get(
    "/papers/{paper_id:path}",
    response_model=schemas.PaperOut,
    responses=_NOT_FOUND,
    summary="One paper",
)
def paper(lens: LensDep, paper_id: str) -> schemas.PaperOut:
    """A paper by id: an arXiv id in any form (``2106.09685``, ``arXiv:2106.09685v2``,
    ``hep-th/9901001``) or the id a source gave it."""
    return schemas.PaperOut.of_stored(lens.paper(clean_id(paper_id)))


@router.get("/search", response_model=schemas.SearchOut, summary="Search papers")
def search(
    lens: LensDep,
    q: Annotated[
        str,
        Query(
            max_length=MAX_QUERY_CHARS,
            description="Words to look for; empty with a filter browses.",
        ),
    ] = "",
    mode: Annotated[
        Mode, Query(description="hybrid (default), lexical or semantic.")
    ] = Mode.HYBRID,
    since: Annotated[date | None, Query(description="First published on or after.")] = None,
    until: Annotated[date | None, Query(description="First published on or before.")] = None,
    category: Annotated[
        list[str] | None,
        Query(
            max_length=MAX_CATEGORIES, description="Category or archive; repeat for any of several."
        ),
    ] = None,
    author: Annotated[
        str | None, Query(max_length=MAX_AUTHOR_CHARS, description="Author name words.")
    ] = None,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 10,
    sort: Annotated[
        Literal["relevance", "citations"],
        Query(description="citations: the best 200 matches, most cited first."),
    ] = "relevance",
) -> schemas.SearchOut:
    """Hybrid search fuses BM25 and dense rankings; results page to depth 1000."""
    if page * limit > MAX_DEPTH:
        raise HTTPException(
            400, f"results are available to depth {MAX_DEPTH}: page × limit is too deep"
        )
    categories = tuple(c for c in (clean_text(c, MAX_CATEGORY_CHARS) for c in category or ()) if c)
    filters = SearchFilters(
        since=since,
        until=until,
        categories=categories,
        author=clean_text(author or "", MAX_AUTHOR_CHARS) or None,
    )
    found = lens.search(clean_text(q, MAX_QUERY_CHARS), mode, filters, page, limit)
    if sort == "citations":
        found = lens.by_citations(found)
    return schemas.SearchOut.of(found)


@router.get("/daily", response_model=schemas.DailyOut, summary="Papers of one day")
def daily(
    lens: LensDep,
    day: Annotated[
        date | None,
        Query(alias="date", description="UTC day, YYYY-MM-DD; default the newest day with papers."),
    ] = None,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 30,
    sort: Annotated[
        Literal["newest", "citations"],
        Query(description="citations: most cited first (from the stored citation counts)."),
    ] = "newest",
) -> schemas.DailyOut:
    """Papers first published on a day, newest first, with the days before and after."""
    if sort == "citations":
        feed = lens.daily_by_citations(day, page, limit)
    else:
        feed = lens.daily(day, page, limit)
    return schemas.DailyOut.of(feed, page, limit)


@router.get("/stats", response_model=schemas.StatsOut, summary="What is stored and indexed")
def stats(lens: LensDep) -> schemas.StatsOut:
    return schemas.StatsOut.model_validate(lens.stats())
