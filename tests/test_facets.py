"""Facet-aware similarity and "papers like my draft": the labeler, the sentence index,
the ranking, and the web page, API and CLI, each with its bad inputs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

pytest.register_assert_rewrite("facets_corpus")  # it is also a plugin (below)

from facets_corpus import NO_ABSTRACT_ID, blank_pdf, encrypted_pdf, text_pdf  # noqa: E402

#: The fixtures facets_lens, facets_app and facets_server.
pytest_plugins = ("facets_corpus",)

TOKEN_RE = re.compile(r'name="csrf_token" value="([^"]+)"')

DRAFT = (
    "Graph neural networks for molecule property prediction. Graph neural networks have "
    "become a popular tool for learning on molecules. However, they need many labelled "
    "examples. We propose a self-supervised pre-training scheme that masks atoms and "
    "predicts them from their neighbours. Experiments on eight benchmarks show that our "
    "method outperforms supervised baselines by 5% on average."
)
PDF_LINES = [
    "Learning to segment images with few labels",
    "Abstract",
    "Image segmentation needs many pixel-level labels, which are costly to obtain.",
    "We propose a semi-supervised network that learns from unlabelled images with",
    "consistency regularisation. Experiments on two datasets show that it outperforms",
    "fully supervised training with ten times fewer labels.",
    "1 Introduction",
    "Segmentation is a core task of computer vision.",
]


# -- the labeler --------------------------------------------------------------------------


def test_labeler_gives_known_sentences_their_roles() -> None:
    from paperlens.rhetoric import label_abstract

    abstract = (
        "Deep neural networks have been widely used for image classification. However, "
        "they are vulnerable to adversarial examples. In this paper, we propose a "
        "certified defence based on randomized smoothing. We train the classifier with "
        "Gaussian noise and derive a robustness bound. Experiments on ImageNet show that "
        "our method outperforms previous defences by 10%."
    )
    labelled = label_abstract(abstract)
    assert [role for _, role in labelled] == [
        "background",
        "background",
        "method",
        "method",
        "result",
    ]


def test_splitter_keeps_abbreviations_and_strips_latex() -> None:
    from paperlens.rhetoric import split_sentences

    text = (
        "Methods, e.g. dropout, help (Smith et al. 2020). We test on\n"
        "$\\mathbb{R}^n$ data, etc. However, the results vary across datasets."
    )
    sentences = split_sentences(text)
    assert sentences[0] == "Methods, e.g. dropout, help (Smith et al. 2020)."
    assert len(sentences) == 3
    assert "\n" not in sentences[1] and "$" not in sentences[1]
    assert split_sentences("") == [] and split_sentences("   ") == []


# -- the sentence index -------------------------------------------------------------------


def test_sentence_index_round_trip_reload_and_compaction(tmp_path: Path) -> None:
    from paperlens.index.sentences import SentenceIndex

    rng = np.random.default_rng(0)

    def unit(n: int) -> Any:
        m = rng.normal(size=(n, 8)).astype(np.float32)
        return m / np.linalg.norm(m, axis=1, keepdims=True)

    writer = SentenceIndex(tmp_path / "s", 8, "m")
    a, b = unit(3), unit(2)
    writer.put(5, a, ["background", "method", "result"])
    writer.put(9, b, ["method", "result"])
    # Not visible to readers (nor to this object's reads) before save.
    assert writer.get(5) is None
    writer.save(7)
    reader = SentenceIndex(tmp_path / "s", 8, "m")
    got = reader.get(5)
    assert got is not None and got.roles == ("background", "method", "result")
    assert np.abs(got.vectors - a).max() < 0.01  # int8 with a scale per row
    assert reader.seq == 7 and 5 in reader and 6 not in reader
    # Re-embedding both papers twice makes most rows dead: the save compacts.
    for _ in range(2):
        writer.put(5, unit(3), ["method"] * 3)
        writer.put(9, unit(2), ["result"] * 2)
        writer.save(8)
    writer.remove([9])
    writer.save(9)
    assert writer.live_rows == 3 and len(writer) == 1
    reader.reload()
    assert 9 not in reader and reader.get(5) is not None
    assert reader.get(5).roles == ("method",) * 3  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="is for m"):
        SentenceIndex(tmp_path / "s", 8, "other-model")


def test_rank_by_facet_matches_the_facet_sentences() -> None:
    from paperlens.index.sentences import PaperSentences
    from paperlens.search.facets import FacetParams, rank_by_facet

    e = np.eye(4, dtype=np.float32)
    # Query: background sentence = e0, method sentence = e1.
    query, roles = e[[0, 1]], ["background", "method"]
    same_method = PaperSentences(1, e[[2, 1]], ("background", "method"))
    same_background = PaperSentences(2, e[[0, 3]], ("background", "result"))
    candidates = [(1, 0.5), (2, 0.5)]
    only = FacetParams(pool=10, weight=1.0)
    method = rank_by_facet(query, roles, "method", candidates, [same_method, same_background], only)
    assert [h.pk for h in method] == [1, 2]
    assert (method[0].query_sentence, method[0].candidate_sentence) == (1, 1)
    background = rank_by_facet(
        query, roles, "background", candidates, [same_method, same_background], only
    )
    assert [h.pk for h in background] == [2, 1]
    # No result sentence in the query: all its sentences stand in.
    assert rank_by_facet(query, roles, "result", candidates, [same_method], only)[0].pk == 1


# -- facet similarity over a real corpus --------------------------------------------------


def test_similar_by_facet_gives_reasons_from_both_abstracts(facets_lens: Any) -> None:
    from paperlens.rhetoric import split_sentences

    matches = facets_lens.similar_by_facet("ml-0", "method", 5)
    assert len(matches) == 5
    own = split_sentences(facets_lens.paper("ml-0").paper.abstract)
    assert all(m.paper.id != "ml-0" for m in matches)
    for m in matches:
        assert m.query_sentence in own
        assert m.matched_sentence in split_sentences(m.paper.abstract)
    assert [m.score for m in matches] == sorted((m.score for m in matches), reverse=True)
    # Another facet ranks differently (its own sentences), still with reasons.
    background = facets_lens.similar_by_facet("ml-0", "background", 5)
    assert background and all(m.matched_sentence for m in background)


def test_facet_lists_rank_like_similar_papers_with_facet_reasons(facets_lens: Any) -> None:
    """The served default (bench/README.md, "facets.py"): each facet list ranks like the
    page's similar papers (no facet-specific list beat that ranking on CSFCube dev) and
    the facet shows in the reason: the best pair among the query's facet sentences."""
    from paperlens.rhetoric import FACET_ROLES, label_sentences, split_sentences
    from paperlens.search.facets import DEFAULT

    assert DEFAULT.weights() == {
        "dense": 1.0,
        "lexical": 0.0,
        "facet_lexical": 0.0,
        "maxsim": 0.0,
        "facet_dense": 0.0,
    }
    similar = [r.paper.id for r in facets_lens.similar("ml-0", k=6)]
    own = split_sentences(facets_lens.paper("ml-0").paper.abstract)
    roles = dict(zip(own, label_sentences(own), strict=True))
    for facet in ("background", "method", "result"):
        matches = facets_lens.similar_by_facet("ml-0", facet, 6)
        assert [m.paper.id for m in matches] == similar
        if any(r in FACET_ROLES[facet] for r in roles.values()):
            assert all(roles[m.query_sentence] in FACET_ROLES[facet] for m in matches)


def test_facet_bad_inputs(facets_lens: Any) -> None:
    from paperlens.errors import Invalid, PaperNotFound
    from paperlens.facets import parse_facet

    assert parse_facet("Results") == "result"
    with pytest.raises(Invalid, match="unknown facet"):
        parse_facet("novelty")
    with pytest.raises(Invalid, match="no abstract"):
        facets_lens.similar_by_facet(NO_ABSTRACT_ID, "method")
    with pytest.raises(PaperNotFound):
        facets_lens.similar_by_facet("nope-404", "method")


def test_sentence_index_follows_deletions(facets_lens: Any) -> None:
    from paperlens.sources.base import Deleted

    stored = facets_lens.paper("ml-59")
    assert stored.pk in facets_lens.sentences
    facets_lens.papers.write_batch([Deleted("ml-59", "test")])
    facets_lens.index()
    assert stored.pk not in facets_lens.sentences
    assert all(m.paper.id != "ml-59" for m in facets_lens.similar_by_facet("ml-1", "result", 50))


# -- drafts -------------------------------------------------------------------------------


def test_draft_text_checks() -> None:
    from paperlens.drafts import MAX_DRAFT_CHARS, from_text
    from paperlens.errors import Invalid

    assert from_text(DRAFT).notes == ()
    with pytest.raises(Invalid, match="empty"):
        from_text(" \n\t ")
    with pytest.raises(Invalid, match="too short"):
        from_text("GNNs.")
    with pytest.raises(Invalid, match="too long"):
        from_text("word " * MAX_DRAFT_CHARS)
    german = (
        "Wir schlagen ein neues Verfahren zur Bildsegmentierung vor, das mit wenigen "
        "Beispielen auskommt und auf zwei Datensätzen bessere Ergebnisse erzielt."
    )
    assert "does not look like English" in from_text(german).notes[0]
    chinese = "我们提出了一种新的图神经网络方法，用于分子性质预测，并在八个基准上取得了最好的结果。"
    assert "does not look like English" in from_text(chinese).notes[0]


def test_draft_pdf_checks() -> None:
    from paperlens.drafts import MAX_PDF_BYTES, from_pdf
    from paperlens.errors import Invalid

    draft = from_pdf(text_pdf(PDF_LINES))
    assert draft.text.startswith("Image segmentation needs many")
    assert "Introduction" not in draft.text and draft.source == "pdf"
    with pytest.raises(Invalid, match="no text layer"):
        from_pdf(blank_pdf())
    with pytest.raises(Invalid, match="encrypted"):
        from_pdf(encrypted_pdf(PDF_LINES))
    with pytest.raises(Invalid, match="damaged"):
        from_pdf(b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 9 0 R >> trailer garbage")
    with pytest.raises(Invalid, match="not a PDF"):
        from_pdf(b"GIF89a....")
    with pytest.raises(Invalid, match="too large"):
        from_pdf(b"%PDF-" + b"0" * MAX_PDF_BYTES)


def test_like_draft_ranks_and_explains(facets_lens: Any) -> None:
    from paperlens.drafts import from_text

    found = facets_lens.like_draft(from_text(DRAFT), 5)
    assert len(found.similar) == 5
    assert set(found.by_facet) == {"background", "method", "result"}
    assert all(len(ms) == 3 for ms in found.by_facet.values())
    assert any(m.query_sentence and m.query_sentence in DRAFT for m in found.similar)
    roles = dict(found.roles)
    assert roles[next(s for s in roles if s.startswith("We propose"))] == "method"
    # A paper's own abstract as a draft finds that paper first.
    own = facets_lens.paper("ml-3").paper
    again = facets_lens.like_draft(from_text(f"{own.title}. {own.abstract}"), 3)
    assert again.similar[0].paper.id == "ml-3"


# -- API ----------------------------------------------------------------------------------


@pytest.fixture
def api(facets_app: Any) -> Any:
    with TestClient(facets_app, raise_server_exceptions=False) as c:
        yield c


def test_api_facet_similar(api: TestClient) -> None:
    r = api.get("/api/v1/papers/ml-0/similar/method", params={"k": 3})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["facet"] == "method" and len(body["similar"]) == 3
    assert all(s["matched_sentence"] and s["query_sentence"] for s in body["similar"])
    assert api.get("/api/v1/papers/ml-0/similar/novelty").status_code == 400
    r = api.get(f"/api/v1/papers/{NO_ABSTRACT_ID}/similar/method")
    assert r.status_code == 400 and "no abstract" in r.json()["detail"]
    assert api.get("/api/v1/papers/nope-404/similar/method").status_code == 404
    # The plain similar list and the paper itself still answer.
    assert api.get("/api/v1/papers/ml-0/similar").status_code == 200
    assert api.get("/api/v1/papers/ml-0").json()["id"] == "ml-0"
    spec = api.get("/openapi.json").json()["paths"]
    assert "/api/v1/papers/{paper_id}/similar/{facet}" in spec
    assert "/api/v1/drafts/similar/pdf" in spec


def test_api_draft_text_and_bad_input(api: TestClient) -> None:
    r = api.post("/api/v1/drafts/similar", json={"text": DRAFT, "limit": 4})
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["similar"]) == 4 and body["notes"] == []
    assert {s["role"] for s in body["sentences"]} >= {"method", "result"}
    assert api.post("/api/v1/drafts/similar", json={"text": "  "}).status_code == 400
    long = api.post("/api/v1/drafts/similar", json={"text": "a " * 15_000})
    assert long.status_code == 400 and "too long" in long.json()["detail"]
    assert api.post("/api/v1/drafts/similar", json={"text": "a" * 50_000}).status_code == 422
    assert api.post("/api/v1/drafts/similar", content=b" " * 300_000).status_code == 413
    r = api.post(
        "/api/v1/drafts/similar",
        json={"text": "Wir schlagen ein neues Verfahren zur Segmentierung vor, das wenig braucht."},
    )
    assert r.status_code == 200 and "English" in r.json()["notes"][0]


def test_api_draft_pdf(api: TestClient) -> None:
    pdf = {"content-type": "application/pdf"}
    r = api.post("/api/v1/drafts/similar/pdf", content=text_pdf(PDF_LINES), headers=pdf)
    assert r.status_code == 200, r.text
    assert r.json()["similar"]
    for data, message in (
        (blank_pdf(), "no text layer"),
        (encrypted_pdf(PDF_LINES), "encrypted"),
        (b"%PDF-1.4 broken", "damaged"),
    ):
        r = api.post("/api/v1/drafts/similar/pdf", content=data, headers=pdf)
        assert r.status_code == 400 and message in r.json()["detail"]
    wrong = api.post(
        "/api/v1/drafts/similar/pdf", content=b"x", headers={"content-type": "text/plain"}
    )
    assert wrong.status_code == 400
    # Over 20 MB: refused from the declared length, before the body is read.
    big = api.post("/api/v1/drafts/similar/pdf", content=b"%PDF-" + b"0" * (21 << 20), headers=pdf)
    assert big.status_code == 413
    # Other API paths keep the small body limit.
    assert api.post("/api/v1/papers/ml-0/similar", content=b" " * 70_000).status_code == 413


def test_api_draft_rate_limit(facets_lens: Any) -> None:
    from paperlens.web import create_app
    from paperlens.web.throttle import RateLimits

    app = create_app(facets_lens, rate_limit=None, auth_limits=RateLimits(draft_ip="2/minute"))
    with TestClient(app) as c:
        codes = [
            c.post("/api/v1/drafts/similar", json={"text": DRAFT}).status_code for _ in range(3)
        ]
    assert codes == [200, 200, 429]


# -- pages --------------------------------------------------------------------------------


def test_paper_page_facet_links_and_reasons(api: TestClient) -> None:
    page = api.get("/paper/ml-0")
    assert page.status_code == 200
    assert 'href="/paper/ml-0?facet=method"' in page.text
    r = api.get("/paper/ml-0", params={"facet": "method"})
    assert r.status_code == 200
    assert 'href="/paper/ml-0?facet=method" aria-current="page"' in r.text
    assert r.text.count('class="reason"') == 8
    bad = api.get("/paper/ml-0", params={"facet": "<script>x</script>"})
    assert bad.status_code == 400 and "unknown facet" in bad.text
    assert "<script>x</script>" not in bad.text
    none = api.get(f"/paper/{NO_ABSTRACT_ID}", params={"facet": "result"})
    assert none.status_code == 200 and "no abstract" in none.text


def test_draft_page_form_csrf_escaping_and_errors(api: TestClient) -> None:
    form = api.get("/like-my-draft")
    assert form.status_code == 200
    token = TOKEN_RE.search(form.text)
    assert token
    no_token = api.post("/like-my-draft", data={"text": DRAFT})
    assert no_token.status_code == 403
    hostile = DRAFT + " <script>alert(1)</script>"
    r = api.post("/like-my-draft", data={"text": hostile, "csrf_token": token.group(1)})
    assert r.status_code == 200, r.text[:500]
    assert "<script>alert(1)</script>" not in r.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text
    assert "Closest by method" in r.text and 'class="reason"' in r.text
    empty = api.post("/like-my-draft", data={"text": "", "csrf_token": token.group(1)})
    assert empty.status_code == 400 and "the draft is empty" in empty.text
    files = {"pdf": ("paper.pdf", encrypted_pdf(PDF_LINES), "application/pdf")}
    locked = api.post("/like-my-draft", data={"csrf_token": token.group(1)}, files=files)
    assert locked.status_code == 400 and "encrypted" in locked.text
    files = {"pdf": ("paper.pdf", text_pdf(PDF_LINES), "application/pdf")}
    ok = api.post("/like-my-draft", data={"csrf_token": token.group(1)}, files=files)
    assert ok.status_code == 200 and "Closest by results" in ok.text


# -- CLI ----------------------------------------------------------------------------------


def cli(lens: Any, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    env = {
        **os.environ,
        "PAPERLENS_DATA_DIR": str(lens.settings.data_dir),
        "PAPERLENS_MAX_SEQ_LENGTH": "128",
        "PAPERLENS_SENTENCE_INDEX": "1",
        "COLUMNS": "200",
    }
    env.pop("PAPERLENS_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "paperlens.cli.main", *args],
        capture_output=True,
        env=env,
        input=stdin,
        timeout=300,
        check=False,
    )


def one_line_error(proc: subprocess.CompletedProcess[bytes]) -> str:
    lines = [line for line in proc.stderr.decode().splitlines() if line.strip()]
    assert proc.returncode != 0 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_cli_facet_and_draft(facets_lens: Any, tmp_path: Path) -> None:
    import json

    r = cli(facets_lens, "similar", "ml-0", "--facet", "method", "-k", "3", "--json")
    assert r.returncode == 0, r.stderr
    body = json.loads(r.stdout)
    assert body["facet"] == "method" and len(body["similar"]) == 3
    assert "unknown facet" in one_line_error(cli(facets_lens, "similar", "ml-0", "--facet", "x"))
    draft = tmp_path / "draft.txt"
    draft.write_text(DRAFT, encoding="utf-8")
    r = cli(facets_lens, "draft", str(draft), "-k", "2", "--json")
    assert r.returncode == 0, r.stderr
    assert len(json.loads(r.stdout)["similar"]) == 2
    r = cli(facets_lens, "draft", "-", stdin=DRAFT.encode())
    assert r.returncode == 0 and b"closest by method" in r.stdout
    pdf = tmp_path / "draft.pdf"
    pdf.write_bytes(text_pdf(PDF_LINES))
    assert cli(facets_lens, "draft", str(pdf)).returncode == 0
    (tmp_path / "empty.txt").write_text("", encoding="utf-8")
    assert "empty" in one_line_error(cli(facets_lens, "draft", str(tmp_path / "empty.txt")))
    (tmp_path / "scan.pdf").write_bytes(blank_pdf())
    assert "no text layer" in one_line_error(cli(facets_lens, "draft", str(tmp_path / "scan.pdf")))
    assert "no such file" in one_line_error(cli(facets_lens, "draft", str(tmp_path / "nope")))


# -- the API's schema, fuzzed ----------------------------------------------------------------

FACET_OPERATIONS = [
    ("GET /api/v1/papers/{paper_id}/similar/{facet}", "positive"),
    ("GET /api/v1/papers/{paper_id}/similar/{facet}", "negative"),
    ("POST /api/v1/drafts/similar", "positive"),
    ("POST /api/v1/drafts/similar", "negative"),
    ("POST /api/v1/drafts/similar/pdf", "positive"),
]


@pytest.mark.parametrize(("label", "mode"), FACET_OPERATIONS)
def test_facet_api_never_answers_a_server_error(facets_lens: Any, label: str, mode: str) -> None:
    """schemathesis, as tests/test_schemathesis.py does for the rest of the API: no
    server error, and every answer as documented."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    from paperlens.web import create_app

    @schemathesis.serializer("application/pdf")
    def pdf_body(_ctx: Any, value: Any) -> bytes:
        # The schema says "binary": generated values are bytes (or text standing in).
        return value if isinstance(value, bytes) else str(value).encode()

    app = create_app(facets_lens, rate_limit=None, auth_limits=None)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operation = schema.find_operation_by_label(label)
    assert operation is not None
    generation = GenerationMode.POSITIVE if mode == "positive" else GenerationMode.NEGATIVE
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    seen: list[int] = []

    @given(case=operation.as_strategy(generation_mode=generation))
    @settings(
        max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def run(case: Any) -> None:
        seen.append(case.call_and_validate(checks=checks).status_code)

    run()
    assert seen and all(code < 500 for code in seen)
