"""``paperlens refresh ...``: fetch outside data in the background (cron these), never
during a request. ``refresh citations`` asks Semantic Scholar for the papers whose
citation data is missing or older than ``citations_max_age_days``."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from paperlens.cli.context import state
from paperlens.cli.output import console, errors_as_one_line, fail

app = typer.Typer(help="Refresh data fetched from outside services.", no_args_is_help=True)


@app.command("citations")
def citations(
    ctx: typer.Context,
    limit: Annotated[
        int, typer.Option("--limit", min=1, help="Most papers to fetch in this run.")
    ] = 1000,
    max_age_days: Annotated[
        float | None,
        typer.Option(
            "--max-age-days", min=0, help="Refetch counts older than this (default: setting)."
        ),
    ] = None,
) -> None:
    """Citation counts, cited-by and references from the Semantic Scholar batch API
    (at the configured pace; a 429 or 5xx is waited out and retried)."""
    with errors_as_one_line():
        lens = state(ctx).lens
        age = timedelta(days=max_age_days) if max_age_days is not None else None
        report = lens.citations.refresh(limit, max_age=age)
    console.print(
        f"citations: asked {report.asked} in {report.batches} batch(es); "
        f"{report.found} found, {report.unknown} unknown to the source"
    )
    if report.error:
        fail(f"stopped early: {report.error}")
