"""The JSON API for facet-aware similarity and "papers like my draft".

- ``GET /api/v1/papers/{id}/similar/{facet}``: papers most like one paper in one facet
  (``background``, ``method``, ``result``), each with its best sentence pair;
- ``POST /api/v1/drafts/similar``: ``{"text": ...}``, a draft's similar papers;
- ``POST /api/v1/drafts/similar/pdf``: the same for a PDF sent as the raw body
  (``Content-Type: application/pdf``, at most :data:`paperlens.drafts.MAX_PDF_BYTES`,
  refused by the body-size middleware before it is read whole).

Drafts are never stored. Both draft routes count against the ``draft_ip`` rate limit.
This router is included before ``papers``: its facet path would otherwise be taken
for a paper id by ``/papers/{id}``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from paperlens.drafts import MAX_DRAFT_CHARS, MAX_PDF_BYTES, from_pdf, from_text
from paperlens.errors import Invalid
from paperlens.facets import parse_facet
from paperlens.web.api import paper_key, schemas
from paperlens.web.deps import ClientIp, LensDep, ThrottleDep

MAX_SIMILAR = 50
#: The paths the body-size middleware lets carry a larger body, and how large.
LARGE_BODIES = {
    "/api/v1/drafts/similar/pdf": MAX_PDF_BYTES,
    # A draft's JSON: its text may be up to twice the cleaned limit, escapes included.
    "/api/v1/drafts/similar": MAX_DRAFT_CHARS * 2 * 6 + 1024,
}

router = APIRouter(prefix="/api/v1", tags=["v1"], responses=schemas.BAD_INPUT)


@router.get(
    "/papers/{paper_id:path}/similar/{facet}",
    response_model=schemas.FacetSimilarOut,
    responses={
        404: schemas.error_doc("No such paper."),
        503: schemas.error_doc("The sentence index is not built."),
    },
    summary="Papers most like one paper in one facet",
)
def similar_by_facet(
    lens: LensDep,
    paper_id: str,
    facet: Annotated[str, Path(description="background, method or result.", max_length=20)],
    k: Annotated[int, Query(ge=1, le=MAX_SIMILAR, description="How many.")] = 10,
) -> schemas.FacetSimilarOut:
    """Ranked by the query paper's sentences of that facet against each candidate's
    sentences (late interaction), fused with whole-paper similarity. 400 for a paper
    without an abstract."""
    chosen = parse_facet(facet)
    _pk, key = paper_key(lens, paper_id)
    matches = lens.similar_by_facet(key, chosen, k)
    return schemas.FacetSimilarOut(
        id=key, facet=chosen, similar=[schemas.FacetMatchOut.of(m) for m in matches]
    )


@router.post(
    "/drafts/similar",
    response_model=schemas.DraftOut,
    responses={
        413: schemas.error_doc("The request body is too large."),
        429: schemas.error_doc("Too many drafts from this address."),
    },
    summary="Papers like my draft (text)",
)
def draft_similar(
    lens: LensDep, body: schemas.DraftIn, throttle: ThrottleDep, ip: ClientIp
) -> schemas.DraftOut:
    """Similar papers for a pasted title and abstract, and its best matches per facet.
    The text is not stored. Text that does not look like English is answered with a
    note in ``notes``."""
    throttle.hit("draft_ip", ip)
    return schemas.DraftOut.of(lens.like_draft(from_text(body.text), body.limit))


@router.post(
    "/drafts/similar/pdf",
    response_model=schemas.DraftOut,
    responses={
        413: schemas.error_doc("The PDF is over 20 MB."),
        429: schemas.error_doc("Too many drafts from this address."),
    },
    summary="Papers like my draft (PDF)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def draft_similar_pdf(
    request: Request,
    lens: LensDep,
    throttle: ThrottleDep,
    ip: ClientIp,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> schemas.DraftOut:
    """The abstract of a PDF (its text layer; scans are refused) compared as a draft.
    Encrypted, damaged or text-less PDFs get a 400 saying so. Nothing is stored."""
    throttle.hit("draft_ip", ip)
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in ("application/pdf", "application/octet-stream"):
        raise Invalid("send the PDF as the request body with Content-Type: application/pdf")
    body = await request.body()
    # Parsing and embedding are CPU work: off the event loop.
    draft = await run_in_threadpool(from_pdf, body)
    matches = await run_in_threadpool(lens.like_draft, draft, limit)
    return schemas.DraftOut.of(matches)
