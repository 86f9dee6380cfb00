"""``paperlens ingest ...``: one subcommand per source, one shared runner."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import Progress

from paperlens.cli.context import state
from paperlens.cli.output import (
    console,
    err_console,
    errors_as_one_line,
    parse_day,
    progress_columns,
)
from paperlens.core import IngestReport
from paperlens.sources.base import Rejected, Source

app = typer.Typer(help="Import papers from a file or a service (idempotent and resumable).")

#: Rejections printed one per line before the rest are only counted.
SHOWN_REJECTS = 20

Strict = Annotated[
    bool, typer.Option("--strict", help="Exit with status 1 if any record was rejected.")
]
Restart = Annotated[
    bool,
    typer.Option("--restart", help="Ignore a saved position and read the source from the start."),
]
BatchSize = Annotated[
    int, typer.Option("--batch-size", min=1, max=100_000, help="Records a transaction.")
]


def _file_size(path: Path) -> int | None:
    """Progress is shown in bytes for plain files (a .gz is counted in records)."""
    if path.suffix == ".gz" or not path.is_file():
        return None
    return path.stat().st_size


def run_ingest(
    ctx: typer.Context,
    source: Source,
    label: str,
    *,
    strict: bool,
    restart: bool,
    batch_size: int = 1000,
    total_bytes: int | None = None,
) -> IngestReport:
    lens = state(ctx).lens
    shown = 0

    def on_reject(r: Rejected) -> None:
        nonlocal shown
        if shown < SHOWN_REJECTS:
            err_console.print(f"[yellow]rejected[/] {escape(r.where)}: {escape(r.reason)}")
        shown += 1

    with (
        errors_as_one_line(),
        Progress(*progress_columns(), console=err_console, transient=True) as bar,
    ):
        task = bar.add_task(label, total=total_bytes)

        def on_progress(entries: int, position: str | None) -> None:
            if total_bytes is not None and position and ":" in position:
                bar.update(task, completed=int(position.split(":", 1)[0]))
            else:
                bar.update(task, completed=entries)

        report = lens.ingest(
            source,
            batch_size=batch_size,
            restart=restart,
            on_progress=on_progress,
            on_reject=on_reject,
        )
    if report.rejected > SHOWN_REJECTS:
        err_console.print(f"[yellow]… and {report.rejected - SHOWN_REJECTS} more rejected[/]")
    c = report.counts
    rate = report.entries / report.seconds if report.seconds > 0 else 0.0
    resumed = " (resumed)" if report.resumed_from else ""
    console.print(
        f"{escape(label)}{resumed}: [bold]{c.added}[/] added, {c.updated} updated, "
        f"{c.unchanged} unchanged, {c.deleted} deleted, "
        f"[{'red' if report.rejected else 'default'}]{report.rejected} rejected[/] "
        f"— {report.entries} records in {report.seconds:.1f} s ({rate:,.0f}/s)"
    )
    if strict and report.rejected:
        raise typer.Exit(1)
    return report


@app.command()
def snapshot(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="arxiv-metadata-oai-snapshot.json (or .gz)")],
    strict: Strict = False,
    restart: Restart = False,
    batch_size: BatchSize = 2000,
) -> None:
    """Import the bulk arXiv metadata snapshot, streamed (any size, bounded memory)."""
    from paperlens.sources.snapshot import SnapshotSource

    with errors_as_one_line():
        source = SnapshotSource(path)
        _ = source.key  # fails early, in one line, on a missing file
    run_ingest(
        ctx,
        source,
        f"snapshot {path.name}",
        strict=strict,
        restart=restart,
        batch_size=batch_size,
        total_bytes=_file_size(path),
    )


@app.command()
def jsonl(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="JSON lines of {title, abstract, ...}")],
    strict: Strict = False,
    restart: Restart = False,
    batch_size: BatchSize = 1000,
) -> None:
    """Import plain JSON lines; records without an id get a stable one from their title."""
    from paperlens.sources.jsonl import JsonlSource

    with errors_as_one_line():
        source = JsonlSource(path)
        _ = source.key
    run_ingest(
        ctx,
        source,
        f"jsonl {path.name}",
        strict=strict,
        restart=restart,
        batch_size=batch_size,
        total_bytes=_file_size(path),
    )


@app.command()
def oai(
    ctx: typer.Context,
    since: Annotated[
        str | None, typer.Option("--from", help="First datestamp, YYYY-MM-DD.")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Last datestamp, YYYY-MM-DD.")
    ] = None,
    set_spec: Annotated[
        str | None, typer.Option("--set", help="OAI set, e.g. cs or physics:hep-th.")
    ] = None,
    strict: Strict = False,
    restart: Restart = False,
) -> None:
    """Harvest arXiv over OAI-PMH (incremental; resumption tokens are checkpointed)."""
    from paperlens.sources.http import PoliteClient
    from paperlens.sources.oai import OaiSource

    settings = state(ctx).settings
    source = OaiSource(
        settings.oai_base_url,
        from_date=parse_day(since, "--from"),
        until_date=parse_day(until, "--until"),
        set_spec=set_spec,
        client=PoliteClient.from_settings(settings),
    )
    run_ingest(ctx, source, "arXiv OAI-PMH", strict=strict, restart=restart, batch_size=500)


@app.command("arxiv-id")
def arxiv_id(
    ctx: typer.Context,
    ids: Annotated[list[str], typer.Argument(help="arXiv ids or URLs, e.g. 2106.09685")],
    strict: Strict = False,
) -> None:
    """Fetch papers by id from the arXiv API."""
    from paperlens.sources.arxiv_api import ArxivApiSource
    from paperlens.sources.http import PoliteClient

    settings = state(ctx).settings
    source = ArxivApiSource(
        ids, settings.arxiv_api_base_url, client=PoliteClient.from_settings(settings)
    )
    run_ingest(ctx, source, "arXiv API", strict=strict, restart=True, batch_size=100)


@app.command("hf-daily")
def hf_daily(
    ctx: typer.Context,
    day: Annotated[
        str | None, typer.Option("--date", help="Day, YYYY-MM-DD (default today).")
    ] = None,
    days: Annotated[
        int, typer.Option("--days", min=1, max=366, help="How many days back from --date.")
    ] = 1,
    strict: Strict = False,
    restart: Restart = False,
) -> None:
    """Import Hugging Face daily papers (with their upvotes) for one or more days."""
    from paperlens.sources.hf_daily import HfDailySource
    from paperlens.sources.http import PoliteClient

    settings = state(ctx).settings
    last = parse_day(day, "--date") or date.today()
    wanted = [last - timedelta(days=n) for n in range(days - 1, -1, -1)]
    source = HfDailySource(
        wanted, settings.hf_base_url, client=PoliteClient.from_settings(settings)
    )
    run_ingest(
        ctx, source, "Hugging Face daily papers", strict=strict, restart=restart, batch_size=500
    )
