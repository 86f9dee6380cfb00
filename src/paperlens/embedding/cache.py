"""The cache of derived models (ONNX exports, model2vec distillations) under
``data_dir/models``, and the local source model they are derived from.

Each derived model lives in ``models_dir/<model>/<variant>/``. It is built in a temporary
directory next to it and renamed into place, with a ``paperlens.json`` manifest (written
last) naming every file's size and SHA-256. A directory whose manifest is missing, of
another :data:`CACHE_FORMAT`, or whose files do not match it is a partial or corrupt
build: it is rebuilt, never used. Nothing is downloaded: the source is the bundled model
or another local model.

This module knows nothing of any backend: the backend modules give it a ``build``
function and read the manifest back.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from paperlens.embedding import (
    BackendUnavailable,
    ModelNotFound,
    Notify,
    model_label,
    resolve_model,
)

log = logging.getLogger(__name__)

MANIFEST = "paperlens.json"
#: Bump when the layout or the way files are made changes: older caches are rebuilt.
CACHE_FORMAT = 1
_SUPPORTED_MODULES = {
    "sentence_transformers.models.Transformer",
    "sentence_transformers.models.Pooling",
    "sentence_transformers.models.Normalize",
}
#: The same modules as sentence-transformers 6 names them in a model it saves (a model
#: tuned here, say).
_SAVED_AS = {
    "sentence_transformers.base.modules.transformer.Transformer": (
        "sentence_transformers.models.Transformer"
    ),
    "sentence_transformers.sentence_transformer.modules.pooling.Pooling": (
        "sentence_transformers.models.Pooling"
    ),
    "sentence_transformers.base.modules.normalize.Normalize": (
        "sentence_transformers.models.Normalize"
    ),
}


def log_progress(message: str) -> None:
    """The default :data:`~paperlens.embedding.Notify`: an INFO log line."""
    log.info(message)


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask where there is one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


#: The extra that installs each optional module an encoder backend may need. torch's
#: brings what deriving a model needs (torch, transformers, onnx, the bundled weights).
EXTRA_OF = {"torch": "torch", "onnx": "torch", "model2vec": "encoders", "onnxruntime": ""}


def require(module: str, backend: str) -> None:
    """Fail with the install hint when ``backend`` needs ``module`` and it is missing."""
    try:
        __import__(module)
    except ImportError as exc:
        extra = EXTRA_OF.get(module, "encoders")
        target = f"'paperlens[{extra}]'" if extra else "paperlens"
        raise BackendUnavailable(
            f"encoder backend {backend!r} needs {module}: pip install {target}"
        ) from exc


# -- the cache -------------------------------------------------------------------------------


def cache_dir(models_dir: Path, model: str, variant: str) -> Path:
    """``models_dir/<model>/<variant>``, the model name made safe for a path."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", model_label(model)).strip("_.") or "model"
    return models_dir / slug / variant


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(path: Path) -> dict[str, Any] | None:
    """The manifest of a complete, intact cache directory, else None."""
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("format") != CACHE_FORMAT:
        return None
    return manifest if check_files(path, manifest) is None else None


def check_files(path: Path, manifest: dict[str, Any]) -> str | None:
    """None when every file the manifest lists is in ``path`` with its size and SHA-256;
    else what is wrong with the first one that is not (a sentence naming the file)."""
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        return f"{path / MANIFEST} lists no files"
    for name, meta in files.items():
        file = path / name
        try:
            if file.stat().st_size != meta["size"]:
                return f"{file} has {file.stat().st_size} bytes, not {meta['size']}"
            if sha256_of(file) != meta["sha256"]:
                return f"{file} does not match its SHA-256 in {MANIFEST}"
        except FileNotFoundError:
            return f"{file} is missing"
        except (OSError, KeyError, TypeError) as exc:
            return f"{file} cannot be checked: {exc}"
    return None


def ready(target: Path, expect: dict[str, Any]) -> dict[str, Any] | None:
    """The manifest of ``target`` if it is complete, intact and what ``expect`` says."""
    manifest = read_manifest(target)
    if manifest is None or any(manifest.get(k) != v for k, v in expect.items()):
        return None
    return manifest


def cached_build(
    target: Path,
    build: Callable[[Path], dict[str, Any]],
    describe: str,
    notify: Notify = log_progress,
    expect: dict[str, Any] | None = None,
) -> tuple[Path, dict[str, Any]]:
    """The cache directory ``target``, built first by ``build(tmp_dir)`` unless a complete
    one is there. ``build`` writes its files into ``tmp_dir`` and returns facts for the
    manifest; the directory is renamed into place only once complete."""
    manifest = read_manifest(target)
    if manifest is not None and all(manifest.get(k) == v for k, v in (expect or {}).items()):
        return target, manifest
    if target.exists():
        notify(f"{target} is incomplete, corrupt or stale: building it again")
        shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    notify(f"{describe} (once) into {target}")
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        facts = build(tmp)
        files = {
            f.name: {"size": f.stat().st_size, "sha256": sha256_of(f)}
            for f in sorted(tmp.iterdir())
            if f.is_file()
        }
        manifest = {
            "format": CACHE_FORMAT,
            "created": datetime.now(UTC).replace(microsecond=0).isoformat(),
            **(expect or {}),
            **facts,
            "files": files,
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        tmp.chmod(0o755)  # mkdtemp's 0700 is for the build, not for the result
        try:
            os.rename(tmp, target)
        except OSError:
            # Another process published the same directory first: use theirs if sound.
            theirs = read_manifest(target)
            if theirs is None:
                raise
            return target, theirs
        return target, manifest
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# -- the source model ---------------------------------------------------------------------


def source_dir(model: str) -> Path:
    """The local directory of a model: the bundled one, a path, or the offline HF cache."""
    name = resolve_model(model)
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(name, local_files_only=True))
    except Exception as exc:
        raise ModelNotFound(
            f"cannot load embedding model {model!r}: not a local directory, and not in the "
            "offline Hugging Face cache"
        ) from exc


def check_mean_pooling(source: Path, model: str) -> None:
    """The ONNX and model2vec backends reproduce Transformer + mean pooling (+ Normalize)."""
    modules_file = source / "modules.json"
    if not modules_file.exists():
        return  # a plain transformers model: sentence-transformers mean-pools it too
    modules = json.loads(modules_file.read_text(encoding="utf-8"))
    kinds = {m.get("type", "") for m in modules}
    pooling = next((m for m in modules if m.get("type", "").endswith(".Pooling")), None)
    mean = True
    if pooling is not None:
        config_file = source / pooling.get("path", "") / "config.json"
        if config_file.exists():
            config = json.loads(config_file.read_text(encoding="utf-8"))
            modes = {k for k, v in config.items() if k.startswith("pooling_mode_") and v}
            # sentence-transformers 6 saves one "pooling_mode" instead of the flags.
            mean = modes == {"pooling_mode_mean_tokens"} or (
                not modes and config.get("pooling_mode") == "mean"
            )
    if not {_SAVED_AS.get(k, k) for k in kinds} <= _SUPPORTED_MODULES or not mean:
        raise BackendUnavailable(
            f"model {model!r} is not a mean-pooled sentence-transformers model; "
            "use encoder_backend=torch for it"
        )
