"""Property-based API testing: schemathesis generates requests from the app's OpenAPI
schema, valid ones and invalid ones, and sends them to the app in-process over ASGI.
No input may get a server error, and every answer must match the documented status
codes, content types and response schemas.

(Each operation is driven through its Hypothesis strategy directly: schemathesis's
pytest plugin, ``schema.parametrize()``, does not run under pytest 9.)
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

OPERATIONS = [
    "GET /api/v1/papers/{paper_id}",
    "GET /api/v1/papers/{paper_id}/similar",
    "GET /api/v1/search",
    "GET /api/v1/daily",
    "GET /api/v1/stats",
    "GET /api/v1/me",
    "GET /api/v1/papers/{paper_id}/cite",
    # community, library, recommendations (web/api/community.py, web/api/library.py)
    "POST /api/v1/papers/{paper_id}/vote",
    "DELETE /api/v1/papers/{paper_id}/vote",
    "POST /api/v1/papers/{paper_id}/not-interested",
    "DELETE /api/v1/papers/{paper_id}/not-interested",
    "GET /api/v1/trending",
    "GET /api/v1/recommendations",
    "POST /api/v1/submissions",
    "GET /api/v1/submissions/{job_id}",
    "GET /api/v1/collections",
    "POST /api/v1/collections",
    "GET /api/v1/collections/{collection_id}",
    "PATCH /api/v1/collections/{collection_id}",
    "DELETE /api/v1/collections/{collection_id}",
    "PUT /api/v1/collections/{collection_id}/papers/{paper_id}",
    "DELETE /api/v1/collections/{collection_id}/papers/{paper_id}",
    "GET /api/v1/collections/{collection_id}/export",
    "PATCH /api/v1/library/papers/{paper_id}",
    # digests (web/api/digests.py)
    "POST /api/v1/subscriptions",
    # discussions (web/api/discussions.py)
    "GET /api/v1/papers/{paper_id}/comments",
    "POST /api/v1/papers/{paper_id}/comments",
    "GET /api/v1/papers/{paper_id}/comments/{comment_id}",
    "PATCH /api/v1/papers/{paper_id}/comments/{comment_id}",
    "DELETE /api/v1/papers/{paper_id}/comments/{comment_id}",
    "POST /api/v1/papers/{paper_id}/comments/{comment_id}/report",
    "POST /api/v1/papers/{paper_id}/comments/{comment_id}/moderate",
    "GET /api/v1/notifications",
    "POST /api/v1/notifications/read",
    # code and artifacts (web/api/papers.py)
    "GET /api/v1/code/{paper_id}",
    # a reader's own data and onboarding (web/api/portability.py, web/api/onboarding.py)
    "GET /api/v1/account/export",
    "POST /api/v1/account/import",
    "GET /api/v1/onboarding",
    "POST /api/v1/onboarding/ratings",
    # authors, follows, claims, citations (web/api/authors.py)
    "GET /api/v1/authors/{name}",
    "GET /api/v1/me/following",
    "POST /api/v1/me/following",
    "DELETE /api/v1/me/following/{name}",
    "GET /api/v1/me/following/papers",
    "POST /api/v1/claims",
    "GET /api/v1/claims",
    "POST /api/v1/claims/{claim_id}/review",
    "GET /api/v1/citations/{paper_id}",
]
#: Fuzzed in tests/test_facets.py, against a lens with the sentence index built.
FUZZED_ELSEWHERE = {
    "GET /api/v1/papers/{paper_id}/similar/{facet}",
    "POST /api/v1/drafts/similar",
    "POST /api/v1/drafts/similar/pdf",
}
#: Operations that take input a schema can call invalid (a path id is any string).
WITH_INVALID_INPUT = OPERATIONS[1:4]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
CASES = [(label, GenerationMode.POSITIVE) for label in OPERATIONS] + [
    (label, GenerationMode.NEGATIVE) for label in WITH_INVALID_INPUT
]


@pytest.fixture(scope="module")
def api_schema(web_app: Any) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", web_app)


def test_schema_has_every_operation(api_schema: Any) -> None:
    labels = {op.ok().label for op in api_schema.get_all_operations()}
    assert labels == set(OPERATIONS) | FUZZED_ELSEWHERE


@pytest.mark.parametrize(("label", "mode"), CASES)
def test_no_input_gets_a_server_error(api_schema: Any, label: str, mode: GenerationMode) -> None:
    operation = api_schema.find_operation_by_label(label)
    assert operation is not None
    seen: list[int] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=100,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        response = case.call_and_validate(checks=CHECKS)
        seen.append(response.status_code)

    run()
    assert seen, "no request was generated"
    assert all(code < 500 for code in seen)
    if mode is GenerationMode.NEGATIVE:
        assert any(400 <= code < 500 for code in seen), "invalid input was accepted"
