"""Render the latest benchmark results (``bench/results/*.json``) as Markdown tables into
``bench/README.md``, so the README always shows what the JSON holds.

    .venv/bin/python bench/report.py
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import arxiv_sanity
import embedders
import postgres
import quality
import scale_report
import speed
from common import RESULTS_DIR, markdown_table, replace_section

if TYPE_CHECKING:
    from rich.table import Table

README = Path(__file__).with_name("README.md")


def _machine_line(results: dict[str, Any]) -> str:
    m = results["machine"]
    return (
        f"_{m['date'][:10]}, {m['processor']}, {m['cpus_usable']} CPUs, "
        f"load {m['load_average_1min_at_start']} at start, commit {m['git_commit']}._"
    )


def _render(results: dict[str, Any], tables: Sequence[Callable[[dict[str, Any]], Table]]) -> str:
    parts = [_machine_line(results)]
    parts += [markdown_table(make(results)) for make in tables]
    return "\n\n".join(parts)


def quality_section(results: dict[str, Any]) -> str:
    results.setdefault("seq_length_comparison", quality.compare_lengths(results["runs"]))
    return _render(
        results,
        [quality.overall_table, quality.facet_table, quality.compare_table, quality.embed_table],
    )


def speed_section(results: dict[str, Any]) -> str:
    body = _render(results, [speed.embed_table, speed.size_table, speed.recall_table])
    return body + "\n\n```\n" + speed.notes(results) + "\n```"


def embedders_section(results: dict[str, Any]) -> str:
    body = _render(results, list(embedders.TABLES))
    return body + "\n\n" + embedders.NOTE


def arxiv_sanity_section(results: dict[str, Any]) -> str:
    return _render(
        results,
        [arxiv_sanity.quality_table, arxiv_sanity.paired_table, arxiv_sanity.speed_table],
    )


def scale_section(paths: list[Path]) -> str:
    """Every ``scale-SIZE.json``, smallest corpus first (partial runs say which phases
    finished)."""
    runs = sorted(
        (json.loads(p.read_text(encoding="utf-8")) for p in paths), key=lambda r: r["size"]
    )
    tables = [scale_report.phase_table, scale_report.serve_table, scale_report.resource_table]
    return "\n\n".join(_render(r, tables) + "\n\n" + scale_report.notes(r) for r in runs)


def postgres_section(results: dict[str, Any]) -> str:
    return _render(results, list(postgres.TABLES)) + "\n\n" + postgres.notes(results)


def main() -> None:
    sections = {
        "quality": quality_section,
        "speed": speed_section,
        "arxiv_sanity": arxiv_sanity_section,
        "embedders": embedders_section,
        "postgres": postgres_section,
    }
    for name, render in sections.items():
        path = RESULTS_DIR / f"{name}.json"
        if path.exists():
            replace_section(README, name, render(json.loads(path.read_text(encoding="utf-8"))))
            print(f"{README}: {name} tables from {path.name}")
    scale_paths = sorted(RESULTS_DIR.glob("scale-*.json"))
    if scale_paths:
        replace_section(README, "scale", scale_section(scale_paths))
        print(f"{README}: scale tables from {', '.join(p.name for p in scale_paths)}")


if __name__ == "__main__":
    main()
