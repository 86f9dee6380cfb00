"""Terminal output for the CLI: one Rich console for results, one for errors, and the
rule that every failure is one line and a non-zero exit."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any, NoReturn

import orjson
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from paperlens.core import Result
from paperlens.errors import PaperlensError

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``error: message`` on one line to stderr and exit."""
    err_console.print(f"[bold red]error:[/] {escape(' '.join(message.split()))}", soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def errors_as_one_line() -> Iterator[None]:
    """Turn any exception into one line on stderr (a traceback with PAPERLENS_DEBUG=1)."""
    try:
        yield
    except (typer.Exit, typer.Abort, KeyboardInterrupt):
        raise
    except ValidationError as exc:  # a bad PAPERLENS_* setting: say which, and why
        if os.environ.get("PAPERLENS_DEBUG"):
            raise
        fail(settings_problem(exc))
    except Exception as exc:
        if os.environ.get("PAPERLENS_DEBUG"):
            raise
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        # paperlens.errors' kinds, our other errors and the builtin kinds carry a
        # message meant for people; anything else also names its type.
        known = type(exc).__module__.startswith("paperlens") or isinstance(
            exc, PaperlensError | ValueError | LookupError | OSError | RuntimeError
        )
        fail(text if known and text else f"{type(exc).__name__}: {text or 'unexpected failure'}")


def settings_problem(exc: ValidationError) -> str:
    """``PAPERLENS_NAME: what is wrong`` for each bad setting (pydantic's own first line
    only says how many there are)."""
    parts = []
    for err in exc.errors()[:5]:
        name = "_".join(str(x) for x in err.get("loc", ()))
        message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"PAPERLENS_{name.upper()}: {message}" if name else message)
    return "bad setting: " + "; ".join(parts)


def parse_day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"{option} must be a date as YYYY-MM-DD, not {value!r}")


def to_json(value: Any) -> str:
    def default(obj: Any) -> Any:
        if isinstance(obj, set | frozenset | tuple):
            return list(obj)
        raise TypeError

    return orjson.dumps(value, default=default, option=orjson.OPT_INDENT_2).decode()


def result_dict(r: Result) -> dict[str, Any]:
    p = r.paper
    return {
        "id": p.id,
        "title": p.title,
        "authors": list(p.authors),
        "categories": list(p.categories),
        "published": p.published.isoformat() if p.published else None,
        "score": round(r.score, 6),
        "lexical_rank": r.lexical_rank,
        "semantic_rank": r.semantic_rank,
        "reason": {"kind": r.reason.kind, "text": r.reason.text} if r.reason else None,
        "abstract": p.abstract,
        "links": p.links,
    }


def _short_date(d: datetime | None) -> str:
    return d.date().isoformat() if d else "—"


def print_results(results: list[Result], first_rank: int = 1, score_label: str = "score") -> None:
    table = Table(show_header=True, header_style="bold", expand=True, box=None, padding=(0, 1))
    table.add_column("#", justify="right", style="dim", no_wrap=True)
    table.add_column("paper", ratio=1)
    table.add_column("date", no_wrap=True, style="dim")
    table.add_column(score_label, justify="right", no_wrap=True, style="dim")
    for i, r in enumerate(results, start=first_rank):
        p = r.paper
        authors = ", ".join(p.authors[:4]) + (" et al." if len(p.authors) > 4 else "")
        cats = " ".join(p.categories[:3])
        body = f"[bold]{escape(p.title)}[/]\n[dim]{escape(p.id)}  {escape(cats)}[/]"
        if authors:
            body += f"\n{escape(authors)}"
        if r.reason is not None:
            body += f"\n[italic]{escape(r.reason.text)}[/]"
        table.add_row(str(i), body, _short_date(p.published), f"{r.score:.3f}")
    console.print(table)


def progress_columns() -> list[Any]:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
