"""The REST API, version 1: papers, similar papers, search, the daily feed and stats.

Every handler is a few lines over :class:`PaperLens`. Input is bounded before it
reaches the core (query length, result depth, id length); what the core refuses
(``ValueError``: 400, ``PaperNotFound``: 404, ...) is answered in JSON by
``web/errors.py``.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Response

from paperlens import cite
from paperlens.core import MAX_DEPTH, MAX_QUERY_CHARS, Mode, SearchFilters
from paperlens.web.api import paper_key, schemas
from paperlens.web.deps import LensDep, OptionalUser
from paperlens.web.exports import cite_response
from paperlens.web.feedcontrol import feed_control
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
    "/papers/{paper_id:path}/cite",
    responses={
        **_NOT_FOUND,
        200: {
            "description": "The citation as text in the asked format.",
            "content": {
                "application/x-bibtex": {"example": "@misc{hu2021lora,\n  title = {{LoRA}: ...}"},
                "application/x-research-info-systems": {"example": "TY  - UNPB\nTI  - ..."},
                "application/vnd.citationstyles.csl+json": {
                    "example": [{"id": "hu2021lora", "type": "article", "title": "..."}]
                },
            },
        },
    },
    response_class=Response,
    summary="Cite a paper: BibTeX, RIS or CSL-JSON",
)
def cite_paper(
    lens: LensDep,
    paper_id: str,
    format: Annotated[
        str,
        Query(max_length=20, description="bibtex (default), ris or csl-json."),
    ] = "bibtex",
) -> Response:
    """The paper's citation for a reference manager: BibTeX (arXiv's fields: ``eprint``,
    ``archivePrefix``, ``primaryClass``; capitals and LaTeX protected), RIS or
    CSL-JSON (an array of one item). An unknown format is a 400."""
    fmt = cite.cite_format(format)
    return cite_response(lens.paper(clean_id(paper_id)).paper, fmt, download=False)


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
    has_code: Annotated[
        bool, Query(description="Only papers that link a code repository (GitHub, GitLab).")
    ] = False,
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
        has_code=has_code,
    )
    found = lens.search(clean_text(q, MAX_QUERY_CHARS), mode, filters, page, limit)
    if sort == "citations":
        found = lens.by_citations(found)
    out = schemas.SearchOut.of(found)
    views = lens.code.views({r.pk: r.paper for r in found.results})
    for item, r in zip(out.results, found.results, strict=True):
        item.code = schemas.CodeBriefOut.of(views[r.pk])
    return out


@router.get("/daily", response_model=schemas.DailyOut, summary="Papers of one day")
def daily(
    lens: LensDep,
    day: Annotated[
        date | None,
        Query(alias="date", description="UTC day, YYYY-MM-DD; default the newest day with papers."),
    ] = None,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 30,
    category: Annotated[
        list[str] | None,
        Query(
            max_length=MAX_CATEGORIES,
            description=(
                "Category or archive (cs takes every cs.*); repeat for several. Without it "
                "a signed-in reader gets the categories they follow; `all` for every one."
            ),
        ),
    ] = None,
    sort: Annotated[
        str,
        Query(
            max_length=20,
            description=(
                "newest (default), votes, stars (GitHub stars; votes until known) or "
                "citations (stored citation counts; papers never fetched last)."
            ),
        ),
    ] = "newest",
    hide: Annotated[
        str | None,
        Query(
            max_length=10,
            description="1: leave out papers you marked read or not interested (signed in).",
        ),
    ] = None,
    has_code: Annotated[
        bool, Query(description="Only papers that link a code repository (GitHub, GitLab).")
    ] = False,
    user: OptionalUser = None,
) -> schemas.DailyOut:
    """Papers first published on a day, newest first or by votes or stars, with the
    days before and after (the days that have papers in the categories asked). Bad
    options are a 400 naming the choices."""
    control = feed_control(category, sort, hide, user, "1" if has_code else None)
    feed = lens.daily(
        day,
        page,
        limit,
        categories=control.categories,
        sort=control.sort,
        hide_for=user.pk if control.hide and user else None,
        has_code=control.has_code,
    )
    out = schemas.DailyOut.of(feed, page, limit, control)
    if feed is not None:
        views = lens.code.views({i.stored.pk: i.stored.paper for i in feed.items})
        for item, i in zip(out.papers, feed.items, strict=True):
            item.code = schemas.CodeBriefOut.of(views[i.stored.pk])
    return out


@router.get("/stats", response_model=schemas.StatsOut, summary="What is stored and indexed")
def stats(lens: LensDep) -> schemas.StatsOut:
    return schemas.StatsOut.model_validate(lens.stats())


@router.get(
    "/code/{paper_id:path}",
    response_model=schemas.CodeOut,
    responses=_NOT_FOUND,
    summary="A paper's code, artifacts, summary and keywords",
)
def paper_code(lens: LensDep, paper_id: str) -> schemas.CodeOut:
    """Repositories (with GitHub stars and when they were fetched), project page,
    Hugging Face models, datasets and Spaces citing the paper, and a one-line summary
    and keywords: Hugging Face's (``source: hf``) or extracted from the abstract
    (``source: extract``). Stored data only: nothing is fetched during the request."""
    stored = lens.paper(clean_id(paper_id))
    return schemas.CodeOut.of(stored.paper.id, lens.code.view(stored.pk, stored.paper))
