"""A small corpus with the sentence index built (facet-aware similarity and drafts),
shared by tests/test_facets.py and tests/test_browser_facets.py, and real PDFs made
here: one with a text layer, one without (as a scan has none), an encrypted one."""

from __future__ import annotations

import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from corpus import sample_records

#: A paper stored without an abstract (facet similarity must say it cannot).
NO_ABSTRACT_ID = "no-abstract-1"
FACET_PAPERS = 60


def text_pdf(lines: list[str]) -> bytes:
    """A one-page PDF whose text layer holds ``lines`` (Helvetica, built by hand with a
    correct cross-reference table, the way any PDF writer lays one out)."""

    def esc(s: str) -> str:
        return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    ops = ["BT", "/F1 10 Tf", "12 TL", "50 760 Td"]
    for line in lines:
        ops.append(f"({esc(line)}) Tj T*")
    ops.append("ET")
    stream = "\n".join(ops).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{i} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for off in offsets:
        out.write(f"{off:010d} 00000 n \n".encode())
    out.write(
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return out.getvalue()


def blank_pdf() -> bytes:
    """A PDF with a page and no text layer (what a scan without OCR looks like)."""
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(612, 792)
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def encrypted_pdf(lines: list[str]) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(text_pdf(lines))))
    writer.encrypt("secret", algorithm="RC4-128")  # AES needs the cryptography package
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def facet_records() -> list[dict[str, Any]]:
    """The first ML sample abstracts as JSONL records with ids, plus one without abstract."""
    records = [
        {"id": f"ml-{i}", "title": r["title"], "abstract": r["abstract"], "categories": ["cs.LG"]}
        for i, r in enumerate(sample_records("ml-abstracts-1000", FACET_PAPERS))
    ]
    records.append({"id": NO_ABSTRACT_ID, "title": "A paper with a title only", "abstract": ""})
    return records


@pytest.fixture(scope="session")
def facets_lens(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A lens over :func:`facet_records` with ``sentence_index`` on, indexed once."""
    from paperlens.config import Settings
    from paperlens.core import PaperLens
    from paperlens.sources.jsonl import JsonlSource

    root: Path = tmp_path_factory.mktemp("facets-corpus")
    source = root / "papers.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in facet_records()), encoding="utf-8")
    lens = PaperLens(
        Settings(data_dir=root / "data", database_url="", max_seq_length=128, sentence_index=True)
    )
    lens.ingest(JsonlSource(source))
    lens.index()
    yield lens
    lens.close()


@pytest.fixture(scope="session")
def facets_app(facets_lens: Any) -> Any:
    from paperlens.web import create_app

    return create_app(facets_lens, rate_limit=None)


@pytest.fixture(scope="session")
def facets_server(facets_app: Any) -> Iterator[str]:
    """``facets_app`` served by uvicorn on a free loopback port."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(facets_app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test web server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()
