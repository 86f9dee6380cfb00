"""``paperlens serve``: the web UI and REST API in one process, on uvicorn.

Proxy headers: uvicorn on its own believes ``X-Forwarded-For`` from loopback, so any
local client could pick the address the rate limits count. Here it believes them only
from ``PAPERLENS_TRUSTED_PROXIES`` (none by default; :func:`uvicorn_config`).
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from paperlens.cli.context import state
from paperlens.cli.output import console, err_console
from paperlens.config import Settings
from paperlens.core import PaperLens

if TYPE_CHECKING:
    import uvicorn

Host = Annotated[str, typer.Option("--host", help="Address to listen on.")]
Port = Annotated[
    int, typer.Option("--port", "-p", min=0, max=65535, help="Port (0: any free one).")
]
RateLimit = Annotated[
    str,
    typer.Option("--rate-limit", help="Per-client API limit, e.g. 120/minute; 'off' for none."),
]


def warm_up(lens: PaperLens) -> None:
    """Open the indexes and load the model before the first request, not during it."""
    try:
        lens.code.warm_up()
        _ = lens.lexical, lens.vectors, lens.encoder
    except Exception as exc:  # a missing index only limits what the pages can show
        err_console.print(f"[yellow]note:[/] {escape(str(exc))}")


def uvicorn_config(app: Any, settings: Settings) -> uvicorn.Config:
    """How ``paperlens serve`` runs ``app``: proxy headers are read only from the
    addresses in ``settings.trusted_proxies``, and not at all when it is empty."""
    import uvicorn

    trusted = settings.trusted_proxies
    return uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="on",
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted or [],
    )


def run_server(lens: PaperLens, host: str, port: int, rate_limit: str = "120/minute") -> None:
    """Serve until interrupted; prints the address once the socket is listening."""
    import uvicorn

    from paperlens.web import create_app

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        err_console.print(
            f"[bold red]error:[/] cannot listen on {escape(host)}:{port}: {exc.strerror}"
        )
        raise typer.Exit(1) from None
    bound_port = sock.getsockname()[1]
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    try:
        app = create_app(lens, rate_limit=None if rate_limit.lower() == "off" else rate_limit)
    except ValueError:
        sock.close()
        err_console.print(
            f"[bold red]error:[/] bad --rate-limit {escape(rate_limit)!r} (try 120/minute)"
        )
        raise typer.Exit(2) from None
    served = f"http://{shown}:{bound_port}"
    if lens.settings.public_url != served:
        err_console.print(
            f"[yellow]note:[/] links in feeds and mail use {escape(lens.settings.public_url)} "
            "(set PAPERLENS_PUBLIC_URL to the address readers use)"
        )
    console.print(f"paperlens is serving on [bold]http://{shown}:{bound_port}/[/] (Ctrl+C to stop)")
    console.print(f"[dim]REST API: http://{shown}:{bound_port}/api/v1/ · docs: /docs[/]")
    server = uvicorn.Server(uvicorn_config(app, lens.settings))
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl+C once it has shut down cleanly
        pass
    finally:
        sock.close()
    console.print("paperlens server stopped")


def serve(
    ctx: typer.Context,
    host: Host = "127.0.0.1",
    port: Port = 8000,
    rate_limit: RateLimit = "120/minute",
) -> None:
    """Serve the web UI and the REST API (/api/v1, docs at /docs)."""
    lens = state(ctx).lens
    warm_up(lens)
    run_server(lens, host, port, rate_limit)
