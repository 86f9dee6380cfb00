"""``paperlens account export|import|delete`` (one reader's data) and ``paperlens admin
export|import`` (a whole instance). The work is :mod:`paperlens.portability`'s."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from paperlens.cli.accounts import Email, admin_app
from paperlens.cli.context import state
from paperlens.cli.output import console, errors_as_one_line, fail
from paperlens.errors import NotFound
from paperlens.portability.archive import MAX_ARCHIVE_BYTES
from paperlens.portability.instance import export_instance, import_instance

account_app = typer.Typer(help="A reader's own data: export, import, delete.", no_args_is_help=True)


def _user_pk(ctx: typer.Context, email: str) -> int:
    user = state(ctx).lens.accounts.get_by_email(email)
    if user is None:
        raise NotFound(f"no account {email!r}")
    return user.pk


@account_app.command("export")
def account_export(
    ctx: typer.Context,
    email: Email,
    out: Annotated[Path, typer.Option("--out", help="The zip archive to write.")],
) -> None:
    """Write everything paperlens holds about a reader to one zip archive."""
    with errors_as_one_line():
        data = state(ctx).lens.reader_data.export_archive(_user_pk(ctx, email))
    out.write_bytes(data)
    console.print(f"wrote {escape(str(out))} ({len(data)} bytes)")


@account_app.command("import")
def account_import(
    ctx: typer.Context,
    email: Email,
    archive: Annotated[Path, typer.Argument(help="A paperlens export archive (.zip).")],
) -> None:
    """Add a reader's export archive (from any paperlens server) to their account here,
    all or nothing."""
    if not archive.is_file():
        fail(f"no file {archive}")
    if archive.stat().st_size > MAX_ARCHIVE_BYTES:
        fail(f"{archive} is larger than {MAX_ARCHIVE_BYTES // (1024 * 1024)} MB")
    with errors_as_one_line():
        report = state(ctx).lens.reader_data.import_archive(
            _user_pk(ctx, email), archive.read_bytes()
        )
    done = ", ".join(f"{k}: {v}" for k, v in sorted(report.counts.items())) or "nothing"
    console.print(f"imported {done}")
    for name, why in report.not_imported.items():
        console.print(f"not imported: {name} ({why})")


@account_app.command("delete")
def account_delete(
    ctx: typer.Context,
    email: Email,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete an account and everything it holds."""
    if not yes and not typer.confirm(f"Delete {email} and all its data?"):
        fail("not deleted")
    with errors_as_one_line():
        state(ctx).lens.reader_data.delete_account(_user_pk(ctx, email))
    console.print(f"deleted {escape(email)}")


@admin_app.command("export")
def admin_export(
    ctx: typer.Context,
    out: Annotated[
        Path, typer.Option("--out", help="A directory, or a file ending in .zip, to write.")
    ],
) -> None:
    """Dump the whole instance (papers, embeddings, community data, accounts,
    collections, digests), streamed table by table, for a move to another database."""
    if out.exists() and (out.is_file() or any(out.iterdir())):
        fail(f"{out} exists and is not empty")
    with errors_as_one_line():
        manifest = export_instance(state(ctx).lens.engine, out)
    total = sum(manifest["tables"].values())
    console.print(f"wrote {total} rows of {len(manifest['tables'])} tables to {escape(str(out))}")


@admin_app.command("import")
def admin_import(
    ctx: typer.Context,
    src: Annotated[Path, typer.Argument(help="A directory or .zip from `admin export`.")],
) -> None:
    """Load an instance dump into this (empty) database, all or nothing; then run
    `paperlens index` to rebuild the search indexes."""
    with errors_as_one_line():
        counts = import_instance(state(ctx).lens.engine, src)
    console.print(
        f"loaded {sum(counts.values())} rows of {len(counts)} tables; "
        "now run `paperlens index` to rebuild the search indexes"
    )


__all__ = ["account_app", "admin_app"]
