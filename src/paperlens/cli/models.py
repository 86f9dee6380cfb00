"""``paperlens models ...``: prepare the encoder backends ahead of use.

The default, the bundled model on ``onnx-int8``, ships inside paperlens (checked, never
built). Other ONNX exports and the model2vec distillation are derived from the local
model on first use anyway; ``models prepare`` does it on purpose (say, while building an
air-gapped install, or before a long import), and ``models list`` shows what is ready.
"""

from __future__ import annotations

import importlib.util
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from paperlens.cli.context import state
from paperlens.cli.output import console, err_console, errors_as_one_line
from paperlens.config import Settings
from paperlens.embedding import BACKENDS, build_encoder, encoder_key

app = typer.Typer(help="Embedding models and their faster backends.", no_args_is_help=True)


class Backend(StrEnum):
    torch = "torch"
    onnx = "onnx"
    onnx_int8 = "onnx-int8"
    model2vec = "model2vec"


def _variant(settings: Settings, backend: str) -> str | None:
    if backend == "torch":
        return None
    return f"model2vec{settings.model2vec_dims}" if backend == "model2vec" else backend


def _model_dir(settings: Settings, backend: str) -> Path | None:
    """Where ``backend``'s model files for the configured model are (None for torch)."""
    from paperlens.embedding.cache import cache_dir
    from paperlens.embedding.shipped import SHIPPED_DIR, is_shipped

    if is_shipped(settings.model, backend):
        return SHIPPED_DIR
    variant = _variant(settings, backend)
    return None if variant is None else cache_dir(settings.models_dir, settings.model, variant)


def _size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1_000_000


def _note(message: str) -> None:
    err_console.print(f"[dim]{escape(message)}[/]")


@app.command("prepare")
def prepare(
    ctx: typer.Context,
    backend: Annotated[
        Backend | None,
        typer.Option(
            "--backend",
            "-b",
            help="Backend to prepare (default: the configured PAPERLENS_ENCODER_BACKEND).",
        ),
    ] = None,
    dims: Annotated[
        int | None,
        typer.Option(
            "--dims", min=8, help="model2vec dimensions (default: PAPERLENS_MODEL2VEC_DIMS)."
        ),
    ] = None,
) -> None:
    """Derive the backend's model from the local one (once; offline) and check it loads."""
    settings = state(ctx).settings
    update: dict[str, object] = {}
    if backend is not None:
        update["encoder_backend"] = backend.value
    if dims is not None:
        update["model2vec_dims"] = dims
    settings = settings.model_copy(update=update)
    started = time.perf_counter()
    with errors_as_one_line():
        encoder = build_encoder(settings, notify=_note)
        probe = encoder.encode(["a probe sentence"])
    seconds = time.perf_counter() - started
    path = _model_dir(settings, settings.encoder_backend)
    where = "" if path is None else f" in {escape(str(path))} ({_size_mb(path):.1f} MB)"
    console.print(
        f"ready: [bold]{escape(encoder.key)}[/], {probe.shape[1]} dimensions{where}, "
        f"{seconds:.1f} s"
    )


@app.command("list")
def list_models(ctx: typer.Context) -> None:
    """Each backend's vector key and whether its derived model is ready (reads only)."""
    from paperlens.embedding import ModelCacheError
    from paperlens.embedding.cache import read_manifest
    from paperlens.embedding.shipped import is_shipped, load_shipped

    settings = state(ctx).settings
    table = Table()
    for col in ("backend", "key", "model files", "MB"):
        table.add_column(col, justify="right" if col == "MB" else "left")
    for backend in BACKENDS:
        s = settings.model_copy(update={"encoder_backend": backend})
        key = encoder_key(s, backend)
        path = _model_dir(s, backend)
        marker = " (configured)" if backend == settings.encoder_backend else ""
        if path is None:
            there = importlib.util.find_spec("sentence_transformers") is not None
            files = "the model itself" if there else "not installed: pip install 'paperlens[torch]'"
            table.add_row(backend + marker, key, escape(files), "—")
            continue
        if is_shipped(s.model, backend):
            try:
                load_shipped(path)
            except ModelCacheError:
                table.add_row(backend + marker, key, "shipped, but corrupt: reinstall", "—")
            else:
                table.add_row(backend + marker, key, escape(str(path)), f"{_size_mb(path):.1f}")
            continue
        if read_manifest(path) is not None:
            table.add_row(backend + marker, key, escape(str(path)), f"{_size_mb(path):.1f}")
        else:
            state_ = "incomplete: rebuilt on use" if path.exists() else "not prepared"
            table.add_row(backend + marker, key, state_, "—")
    console.print(table)
