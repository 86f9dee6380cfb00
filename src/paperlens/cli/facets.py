"""CLI for facet-aware similarity and "papers like my draft":

- ``paperlens similar ID --facet method`` (the ``--facet`` branch of ``similar`` in
  ``main.py`` calls :func:`print_facet_similar`);
- ``paperlens draft FILE`` (``-`` for stdin): a text file with a title and abstract,
  or a PDF (recognised by its ``%PDF-`` header). Nothing is stored.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from paperlens.cli.context import state
from paperlens.cli.output import console, errors_as_one_line, to_json
from paperlens.core import PaperLens
from paperlens.drafts import MAX_DRAFT_CHARS, MAX_PDF_BYTES, Draft, from_pdf, from_text
from paperlens.errors import Invalid
from paperlens.facets import FacetMatch, parse_facet


def match_dict(m: FacetMatch) -> dict[str, Any]:
    return {
        "id": m.paper.id,
        "title": m.paper.title,
        "score": round(m.score, 6),
        "query_sentence": m.query_sentence,
        "matched_sentence": m.matched_sentence,
        "pair_similarity": round(m.pair_score, 6),
    }


def print_matches(matches: list[FacetMatch]) -> None:
    for i, m in enumerate(matches, start=1):
        console.print(
            f"[dim]{i:>2}[/] [bold]{escape(m.paper.title)}[/] [dim]({escape(m.paper.id)}) "
            f"{m.score:.3f}[/]"
        )
        if m.matched_sentence:
            console.print(
                f"    [dim]why:[/] “{escape(m.query_sentence or '')}”\n"
                f"    [dim]matches:[/] “{escape(m.matched_sentence)}”",
                soft_wrap=True,
            )
    if not matches:
        console.print("no similar papers found")


def print_facet_similar(
    lens: PaperLens, paper_id: str, facet_name: str, k: int, as_json: bool
) -> None:
    """``paperlens similar ID --facet F``."""
    with errors_as_one_line():
        facet = parse_facet(facet_name)
        base = lens.paper(paper_id)
        matches = lens.similar_by_facet(paper_id, facet, k)
    if as_json:
        console.print_json(
            to_json(
                {"id": base.paper.id, "facet": facet, "similar": [match_dict(m) for m in matches]}
            )
        )
        return
    title, pid = escape(base.paper.title), escape(base.paper.id)
    console.print(f"similar by {facet} to [bold]{title}[/] [dim]({pid})[/]")
    print_matches(matches)


def read_draft(source: str) -> Draft:
    """The draft in ``source`` (a path, or ``-`` for stdin), at most as much as the
    largest accepted input is read."""
    if source == "-":
        data = sys.stdin.buffer.read(MAX_PDF_BYTES + 1)
    else:
        path = Path(source)
        if not path.is_file():
            raise Invalid(f"no such file: {source}")
        with path.open("rb") as fh:
            data = fh.read(MAX_PDF_BYTES + 1)
    if data.lstrip()[:5] == b"%PDF-":
        return from_pdf(data)
    if len(data) > MAX_DRAFT_CHARS * 4:
        raise Invalid(
            f"the draft is too long: at most {MAX_DRAFT_CHARS:,} characters (the abstract "
            "is enough)"
        )
    return from_text(data.decode("utf-8", "replace"))


def draft(
    ctx: typer.Context,
    source: Annotated[
        str,
        typer.Argument(
            metavar="FILE", help="A text file (title and abstract) or a PDF; - for stdin."
        ),
    ],
    k: Annotated[int, typer.Option("-k", min=1, max=50, help="How many similar papers.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Papers like my draft: similar papers and the best matches per facet. Nothing is stored."""
    with errors_as_one_line():
        the_draft = read_draft(source)
        found = state(ctx).lens.like_draft(the_draft, k)
    if as_json:
        console.print_json(
            to_json(
                {
                    "notes": list(found.notes),
                    "similar": [match_dict(m) for m in found.similar],
                    "by_facet": {
                        f: [match_dict(m) for m in ms] for f, ms in found.by_facet.items()
                    },
                    "sentences": [{"sentence": s, "role": r} for s, r in found.roles],
                }
            )
        )
        return
    for note in found.notes:
        console.print(f"[yellow]note:[/] {escape(note)}")
    console.rule("similar papers")
    print_matches(found.similar)
    for facet, matches in found.by_facet.items():
        console.rule(f"closest by {facet}")
        print_matches(matches)
