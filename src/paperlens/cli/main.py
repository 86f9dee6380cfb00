"""``paperlens``: the command line. Each command is a few lines over :class:`PaperLens`."""

from __future__ import annotations

import signal
import time
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import Progress, TaskID
from rich.table import Table

from paperlens import __version__
from paperlens.cite import cite_format
from paperlens.cite import render as render_citations
from paperlens.cli import accounts as accounts_cli
from paperlens.cli import db as db_cli
from paperlens.cli import digest as digest_cli
from paperlens.cli import facets as facets_cli
from paperlens.cli import ingest as ingest_cli
from paperlens.cli import models as models_cli
from paperlens.cli import portability as portability_cli
from paperlens.cli import refresh as refresh_cli
from paperlens.cli.context import CliState, state
from paperlens.cli.output import (
    console,
    err_console,
    errors_as_one_line,
    fail,
    parse_day,
    print_results,
    progress_columns,
    result_dict,
    to_json,
)
from paperlens.cli.serve import run_server, serve, warm_up
from paperlens.config import Settings
from paperlens.core import EmbedStep, IndexBusy, IndexReport, Mode, PaperLens
from paperlens.filters import SearchFilters

app = typer.Typer(
    name="paperlens",
    help="Self-hosted research-paper discovery: ingest, search, similar papers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(ingest_cli.app, name="ingest")
app.add_typer(digest_cli.app, name="digest")
app.add_typer(accounts_cli.admin_app, name="admin")
app.add_typer(accounts_cli.user_app, name="user")
app.add_typer(models_cli.app, name="models")
app.add_typer(db_cli.app, name="db")
app.add_typer(portability_cli.account_app, name="account")
app.command("draft")(facets_cli.draft)
app.add_typer(refresh_cli.app, name="refresh")

SAMPLE_FILES = ("arxiv-snapshot-sample.jsonl.gz", "ml-abstracts-1000.jsonl.gz")


def _version(value: bool) -> None:
    if value:
        console.print(f"paperlens {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            envvar="PAPERLENS_DATA_DIR",
            help="Where papers and indexes live (default ~/.local/share/paperlens).",
        ),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option("--database-url", envvar="PAPERLENS_DATABASE_URL", help="SQLAlchemy URL."),
    ] = None,
    _version_flag: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    overrides: dict[str, object] = {}
    if data_dir is not None:
        overrides["data_dir"] = data_dir.expanduser()
    if database_url:
        overrides["database_url"] = database_url
    with errors_as_one_line():
        ctx.obj = CliState(Settings(**overrides))  # type: ignore[arg-type]


def run_index(
    lens: PaperLens, embed: EmbedStep | None = None, similar_lists: int | None = None
) -> IndexReport:
    """Embed (locally, or with ``embed``) and index with one progress bar a step."""
    with Progress(*progress_columns(), console=err_console, transient=True) as bar:
        tasks: dict[str, TaskID] = {}
        labels = {
            "embed": "embedding",
            "lexical": "BM25 index",
            "terms": "term vectors",
            "vectors": "HNSW index",
            "similar": "similar lists",
        }

        def progress(step: str, done: int, total: int | None) -> None:
            if step not in tasks:
                tasks[step] = bar.add_task(labels.get(step, step), total=total)
            bar.update(tasks[step], completed=done, total=total)

        report = lens.index(progress, embed=embed, similar_lists=similar_lists)
    s = report.seconds
    console.print(
        f"indexed: [bold]{report.embedded}[/] embedded ({report.embed_rate:,.1f} papers/s, "
        f"{s.get('embed', 0):.1f} s), {report.lexical_docs} BM25 documents "
        f"({s.get('lexical', 0):.1f} s), {report.vectors} vectors ({s.get('vectors', 0):.1f} s), "
        f"{report.term_docs} term vectors ({s.get('terms', 0):.1f} s), "
        f"{report.similar_lists} similar lists ({s.get('similar', 0):.1f} s)"
    )
    return report


@app.command()
def index(
    ctx: typer.Context,
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray",
            metavar="ADDRESS",
            help="Embed on a Ray cluster: its head's HOST:PORT, ray://HOST:PORT (Ray "
            "Client), 'auto' or 'local'.",
        ),
    ] = None,
    ray_workers: Annotated[
        int | None,
        typer.Option(
            "--ray-workers", min=1, help="Embedding workers on Ray (default: one per CPU)."
        ),
    ] = None,
    similar_lists: Annotated[
        int | None,
        typer.Option(
            "--similar-lists",
            min=0,
            metavar="N",
            help="Compute at most N 'similar papers' lists ahead this run, papers just "
            "written first, then the newest without one (default: "
            "PAPERLENS_SIMILAR_LISTS_PER_RUN, 20,000; 0: none).",
        ),
    ] = None,
) -> None:
    """Embed new or changed papers, bring the BM25, term and HNSW indexes up to date,
    then compute "similar papers" lists ahead for the papers that lack a current one."""
    with errors_as_one_line():
        lens = state(ctx).lens
        if ray_address is None:
            if ray_workers is not None:
                fail("--ray-workers needs --ray ADDRESS")
            run_index(lens, similar_lists=similar_lists)
            return
        from paperlens.embedding.ray import ray_embedder

        with ray_embedder(ray_address, lens.settings, ray_workers) as embedder:
            run_index(lens, embed=embedder, similar_lists=similar_lists)
            if embedder.workers:
                n, cpus = len(embedder.workers), embedder.cpus_per_worker
                console.print(
                    f"on Ray {escape(ray_address)}: {n} worker{'s' * (n != 1)}, {cpus} "
                    f"CPU{'s' * (cpus != 1)} each, started in {embedder.start_seconds:.1f} s"
                )


def _filters(
    since: str | None, until: str | None, category: list[str] | None, author: str | None
) -> SearchFilters:
    with errors_as_one_line():
        return SearchFilters(
            since=parse_day(since, "--since"),
            until=parse_day(until, "--until"),
            categories=tuple(category or ()),
            author=author,
        )


Since = Annotated[
    str | None, typer.Option("--since", help="First published on or after, YYYY-MM-DD.")
]
Until = Annotated[
    str | None, typer.Option("--until", help="First published on or before, YYYY-MM-DD.")
]
Category = Annotated[
    list[str] | None,
    typer.Option(
        "--category", "-c", help="Category or archive (cs.LG, cs); repeat for any of several."
    ),
]
Author = Annotated[str | None, typer.Option("--author", "-a", help="Author name words.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


@app.command()
def search(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="Words to look for ('' with filters to browse).")],
    mode: Annotated[Mode, typer.Option("--mode", "-m", help="Retrieval mode.")] = Mode.HYBRID,
    since: Since = None,
    until: Until = None,
    category: Category = None,
    author: Author = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=100)] = 10,
    page: Annotated[int, typer.Option("--page", min=1)] = 1,
    as_json: AsJson = False,
) -> None:
    """Search papers: hybrid (BM25 + dense, fused) by default."""
    filters = _filters(since, until, category, author)
    with errors_as_one_line():
        found = state(ctx).lens.search(query, mode, filters, page=page, per_page=limit)
    if as_json:
        console.print_json(
            to_json(
                {
                    "query": found.query,
                    "mode": found.mode.value,
                    "total": found.total,
                    "total_is_exact": found.total_is_exact,
                    "page": found.page,
                    "seconds": round(found.seconds, 6),
                    "results": [result_dict(r) for r in found.results],
                    **({"notice": found.notice} if found.notice else {}),
                }
            )
        )
        return
    if found.notice:
        err_console.print(f"[yellow]note:[/] {escape(found.notice)}")
    if not found.results:
        console.print(
            f"no papers match {escape(query)!r}" + (" with these filters" if filters.active else "")
        )
        return
    print_results(found.results, first_rank=(page - 1) * limit + 1)
    console.print(
        f"[dim]{'' if found.total_is_exact else 'about '}{found.total} results, "
        f"page {found.page} of {found.pages}, "
        f"{found.mode.value}, {found.seconds * 1000:.1f} ms[/]"
    )


@app.command()
def similar(
    ctx: typer.Context,
    paper_id: Annotated[str, typer.Argument(metavar="ID", help="arXiv id (any form) or paper id.")],
    k: Annotated[int, typer.Option("-k", min=1, max=100, help="How many.")] = 10,
    since: Since = None,
    until: Until = None,
    category: Category = None,
    as_json: AsJson = False,
    facet: Annotated[
        str | None,
        typer.Option(help="Similar by one facet: background, method or result (no filters)."),
    ] = None,
) -> None:
    """Papers most similar to a paper (dense neighbours re-ranked with tf-idf), with why."""
    if facet is not None:
        facets_cli.print_facet_similar(state(ctx).lens, paper_id, facet, k, as_json)
        return
    filters = _filters(since, until, category, None)
    with errors_as_one_line():
        lens = state(ctx).lens
        base = lens.paper(paper_id)
        results = lens.similar(paper_id, k, filters)
    if as_json:
        console.print_json(
            to_json({"id": base.paper.id, "similar": [result_dict(r) for r in results]})
        )
        return
    console.print(
        f"similar to [bold]{escape(base.paper.title)}[/] [dim]({escape(base.paper.id)})[/]"
    )
    print_results(results, score_label="fused")


@app.command()
def stats(ctx: typer.Context, as_json: AsJson = False) -> None:
    """What is stored and indexed."""
    with errors_as_one_line():
        data = state(ctx).lens.stats()
    if as_json:
        console.print_json(to_json(data))
        return
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    for key, value in data.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items()) or "—"
        table.add_row(key.replace("_", " "), escape(str(value)))
    console.print(table)


app.command()(serve)


@app.command()
def worker(
    ctx: typer.Context,
    until_idle: Annotated[
        bool, typer.Option("--until-idle", help="Stop once no submission is due.")
    ] = False,
) -> None:
    """Fetch submitted papers from arXiv (the submission queue), until stopped. Web
    servers do this too unless PAPERLENS_SUBMISSION_WORKER=false; any number of
    workers may run at once, sharing arXiv's pace."""
    import signal

    st = state(ctx)
    runner = st.lens.community.worker("cli")
    signal.signal(signal.SIGTERM, lambda _sig, _frame: runner.request_stop())
    console.print(f"paperlens worker {escape(runner.owner)} is working the submission queue")
    try:
        with errors_as_one_line():
            runner.run(until_idle=until_idle)
    except KeyboardInterrupt:
        pass
    finally:
        runner.stop()
    console.print("paperlens worker stopped")


def sample_paths() -> list[Path]:
    base = resources.files("paperlens.sample")
    return [Path(str(base.joinpath(name))) for name in SAMPLE_FILES]


@app.command()
def demo(
    ctx: typer.Context,
    query: Annotated[
        str, typer.Option("--query", help="The example search.")
    ] = "dark matter in galaxy halos",
    no_serve: Annotated[
        bool, typer.Option("--no-serve", help="Stop after the search; don't serve.")
    ] = False,
    port: Annotated[
        int, typer.Option("--port", "-p", min=0, max=65535, help="Port to serve on.")
    ] = 8000,
) -> None:
    """Load the bundled sample corpus (3,000 papers), index it, show a search, then serve
    the web UI on it (unless --no-serve). Serving starts once keyword search is ready:
    the papers are embedded by a ``paperlens index`` in the background, and semantic
    search and similar papers appear when it is done (log: DATA_DIR/demo-index.log)."""
    from paperlens.sources.jsonl import JsonlSource
    from paperlens.sources.snapshot import SnapshotSource

    st = state(ctx)
    console.print(f"data directory: [bold]{escape(str(st.settings.data_dir))}[/]")
    snapshot_path, jsonl_path = sample_paths()
    ingest_cli.run_ingest(
        ctx, SnapshotSource(snapshot_path), "sample arXiv snapshot", strict=False, restart=False
    )
    ingest_cli.run_ingest(
        ctx, JsonlSource(jsonl_path), "sample ML abstracts", strict=False, restart=False
    )
    if not no_serve:
        serve_while_indexing(st.lens, query, port)
        return
    with errors_as_one_line():
        run_index(st.lens)
        found = st.lens.search(query)
    console.rule(f"hybrid search: {escape(query)}")
    print_results(found.results[:5])
    if found.results:
        top = found.results[0].paper
        console.rule(f"similar to {escape(top.id)}")
        with errors_as_one_line():
            print_results(st.lens.similar(top.id, 5), score_label="cosine")


def serve_while_indexing(lens: PaperLens, query: str, port: int) -> None:
    """The demo's server, up once keyword search is: BM25 and term vectors here
    (seconds), the rest by a :class:`~paperlens.cli.background.BackgroundIndex`."""
    from paperlens.cli.background import BackgroundIndex

    with errors_as_one_line():
        try:
            report = lens.index_keywords()
            if report.lexical_docs:
                console.print(
                    f"keyword index: {report.lexical_docs} BM25 documents "
                    f"({report.seconds.get('lexical', 0):.1f} s); embedding and the rest "
                    "run in the background"
                )
        except IndexBusy as exc:  # that process indexes what is new, keywords included
            err_console.print(f"[yellow]note:[/] {escape(str(exc))}")
        found = lens.search(query, "lexical", per_page=5)
    console.rule(f"keyword search: {escape(query)}")
    print_results(found.results)
    log = lens.settings.data_dir / "demo-index.log"
    background = BackgroundIndex(lens.settings, log)
    # uvicorn re-raises a SIGTERM once it has shut down; by default that ends this
    # process at once, leaving the child behind. As SystemExit, `finally` stops it.
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        warm_up(lens)
        run_server(lens, "127.0.0.1", port)
    finally:
        background.stop()
        signal.signal(signal.SIGTERM, previous)


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


@app.command()
def cite(
    ctx: typer.Context,
    paper_ids: Annotated[
        list[str], typer.Argument(metavar="ID...", help="arXiv ids (any form) or paper ids.")
    ],
    format: Annotated[
        str, typer.Option("--format", "-f", help="bibtex, ris or csl-json.")
    ] = "bibtex",
) -> None:
    """Print the citation of one or more papers (BibTeX, RIS or CSL-JSON), keys unique."""
    with errors_as_one_line():
        fmt = cite_format(format)
        lens = state(ctx).lens
        papers = [lens.paper(pid).paper for pid in paper_ids]
        text = render_citations(papers, fmt)
    # Plain stdout: rich would read "[...]" in a title as markup.
    typer.echo(text, nl=not text.endswith("\n"))


def run() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/] — run the same command again to resume")
        raise SystemExit(130) from None


__all__ = ["app", "fail", "run"]


# `paperlens refresh code` joins `refresh citations` (cli/refresh.py) in one group.
refresh_app = refresh_cli.app


@refresh_app.command("code")
def refresh_code(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, max=5000, help="Most repositories/papers.")] = 50,
    stars: Annotated[bool, typer.Option(help="Refresh GitHub stars.")] = True,
    hf_repos: Annotated[
        bool, typer.Option(help="Fetch Hugging Face models/datasets/Spaces citing papers.")
    ] = True,
    links: Annotated[
        bool, typer.Option(help="First re-derive every paper's links from its text.")
    ] = False,
    every: Annotated[
        float,
        typer.Option(min=0, help="Run again every this many seconds (0: once), until stopped."),
    ] = 0,
) -> None:
    """GitHub stars (conditional requests, rate limits honoured) and Hugging Face
    artifacts of papers; run it from cron or a timer, or with --every. Pages only read
    the results."""
    lens = state(ctx).lens
    if links:
        with errors_as_one_line():
            console.print(f"links re-derived for {lens.code.backfill_links():,} papers")
    while True:
        _refresh_code_once(lens, limit, stars=stars, hf_repos=hf_repos)
        if not every:
            return
        time.sleep(every)


def _refresh_code_once(lens: PaperLens, limit: int, *, stars: bool, hf_repos: bool) -> None:
    with errors_as_one_line():
        if stars:
            r = lens.code.refresh_stars(limit)
            console.print(
                f"GitHub: {r.checked} checked, {r.updated} updated, {r.not_modified} unchanged "
                f"(304), {r.gone} gone, {r.failed} failed"
            )
            if r.stopped:
                console.print(f"GitHub: stopped: {escape(r.stopped)}")
        if hf_repos:
            h = lens.code.refresh_hf_repos(limit)
            console.print(f"Hugging Face: {h.checked} papers checked, {h.failed} failed")
            if h.stopped:
                console.print(f"Hugging Face: stopped: {escape(h.stopped)}")


if __name__ == "__main__":
    run()
