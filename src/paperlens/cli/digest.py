"""``paperlens digest``: subscribe an address, send the due digests, or keep sending them
on a schedule."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.markup import escape

from paperlens.cli.context import state
from paperlens.cli.output import console, err_console, errors_as_one_line, fail
from paperlens.digest import clean_search, preferences
from paperlens.digest.scheduler import run_schedule
from paperlens.digest.sender import Outcome, SendReport

app = typer.Typer(help="Email digests: subscribe, send, schedule.", no_args_is_help=True)


def _now(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        fail(f"--now must be an ISO date-time such as 2026-11-23T08:00:00+00:00, not {value!r}")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _line(o: Outcome) -> str:
    what = f"{o.papers} paper{'' if o.papers == 1 else 's'}"
    text = {
        "sent": f"sent {what}",
        "empty": "nothing new: no mail",
        "dry-run": f"would send {what}" if o.papers else "nothing new: would send no mail",
        "cancelled": "unsubscribed meanwhile: not sent",
        "failed": f"FAILED for good: {o.error}",
        "retry": f"not sent, will retry next run: {o.error}",
    }.get(o.status, o.status)
    return f"{escape(o.email)} {o.period}: {escape(text)}"


def _print(o: Outcome) -> None:
    (err_console if o.error else console).print(_line(o), soft_wrap=True)


def _summary(report: SendReport) -> None:
    counts = {s: report.count(s) for s in ("sent", "empty", "failed", "retry", "dry-run")}
    console.print(
        "digests: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        if report.outcomes
        else "digests: nothing due"
    )


@app.command()
def send(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Compose and report, send nothing, log nothing.")
    ] = False,
    to: Annotated[
        list[str] | None,
        typer.Option("--to", help="Only this subscriber (repeat for several)."),
    ] = None,
    now: Annotated[
        str | None, typer.Option("--now", help="Act as if it were this ISO date-time.")
    ] = None,
) -> None:
    """Send every digest that is due now, each at most once per period. Exit status 1
    when a digest failed (the others are still sent)."""
    when = _now(now)
    with errors_as_one_line():
        digests = state(ctx).lens.digests
        if to:
            active = {s.email for s in digests.store.active([t.strip() for t in to])}
            missing = [t for t in to if t.strip().lower() not in active]
            if missing:
                fail(f"no confirmed subscription for {missing[0]!r}")
        report = digests.send(when, dry_run=dry_run, only=to, on_outcome=_print)
    if dry_run and to:
        for o in report.outcomes:
            if o.message is not None:
                body = o.message.get_body(("plain",))
                if body is not None:
                    console.print(escape(body.get_content()), soft_wrap=True)
    _summary(report)
    if report.problems:
        raise typer.Exit(1)


@app.command()
def schedule(
    ctx: typer.Context,
    interval: Annotated[
        float, typer.Option("--interval", min=1, help="Seconds between runs.")
    ] = 300.0,
) -> None:
    """Keep sending due digests every --interval seconds (Ctrl-C to stop)."""
    with errors_as_one_line():
        digests = state(ctx).lens.digests
    console.print(f"sending due digests every {interval:.0f} s; Ctrl-C to stop")

    def report(r: SendReport) -> None:
        for o in r.outcomes:
            _print(o)

    run_schedule(digests, interval, on_report=report)


@app.command()
def subscribe(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The address (a confirmation link is mailed).")],
    frequency: Annotated[
        str, typer.Option("--frequency", "-f", help="daily (weekdays) or weekly.")
    ] = "weekly",
    tz: Annotated[str, typer.Option("--tz", help="IANA time zone.")] = "UTC",
    section: Annotated[
        list[str] | None,
        typer.Option(
            "--section", help="trending, for_you, searches, updates (repeat; default two)."
        ),
    ] = None,
    search: Annotated[
        list[str] | None, typer.Option("--search", "-s", help="A keyword alert (repeat).")
    ] = None,
    category: Annotated[
        list[str] | None, typer.Option("--category", "-c", help="Filter for the alerts.")
    ] = None,
) -> None:
    """Subscribe an address: it gets a confirmation link, and digests once confirmed."""
    with errors_as_one_line():
        searches = [clean_search(q, category or []) for q in search or []]
        prefs = preferences(frequency, tz, section, searches)
        result = state(ctx).lens.digests.subscribe(email, prefs)
    if result.confirmation_sent:
        console.print(f"confirmation link mailed to {escape(result.subscription.email)}")
    else:
        console.print(f"{escape(result.subscription.email)} is already subscribed")
