"""``paperlens admin ...`` and ``paperlens user ...``: accounts from the command line."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.markup import escape

from paperlens.cli.context import state
from paperlens.cli.output import console, errors_as_one_line, fail

admin_app = typer.Typer(help="Administrators.", no_args_is_help=True)
user_app = typer.Typer(help="Reader accounts.", no_args_is_help=True)

Email = Annotated[str, typer.Argument(metavar="EMAIL", help="The account's email address.")]


@admin_app.command("add")
def admin_add(ctx: typer.Context, email: Email) -> None:
    """Make an existing user an administrator."""
    with errors_as_one_line():
        user = state(ctx).lens.accounts.set_admin(email, True)
    console.print(f"{escape(user.email)} is now an administrator")


@admin_app.command("remove")
def admin_remove(ctx: typer.Context, email: Email) -> None:
    """Take the administrator role back from a user."""
    with errors_as_one_line():
        user = state(ctx).lens.accounts.set_admin(email, False)
    console.print(f"{escape(user.email)} is no longer an administrator")


@user_app.command("create")
def user_create(
    ctx: typer.Context,
    email: Email,
    name: Annotated[str, typer.Option("--name", help="Display name.")] = "",
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="Read the password from the first line of stdin."),
    ] = False,
) -> None:
    """Create an account; the password is asked for (or read with --password-stdin).
    The operator vouches for the address, so it counts as verified."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    if not password:
        fail("no password given")
    with errors_as_one_line():
        user = state(ctx).lens.accounts.create_user(email, password, name, verified=True)
    role = " (administrator: the first account)" if user.is_admin else ""
    console.print(f"created {escape(user.email)}{role}")
