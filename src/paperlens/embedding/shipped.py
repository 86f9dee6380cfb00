"""The default encoder's model, shipped inside the package: all-MiniLM-L6-v2 as int8 ONNX.

``paperlens/models/all-MiniLM-L6-v2-int8/`` holds ``model.onnx`` (the transformer,
weights quantized per channel), ``tokenizer.json`` and the manifest ``paperlens.json``
(the cache's format, :mod:`.cache`: every file's size and SHA-256, the ONNX inputs, the
pad id, and how and from what the files were derived). ``scripts/derive_onnx.py`` makes
them from the bundled full weights with the same export and quantization code as the
``onnx-int8`` cache (:func:`paperlens.embedding.onnx_encoder.derive_shipped`).

Invariants:

* The shipped model is what ``encoder_backend="onnx-int8"`` loads for the bundled
  model; its vectors carry that backend's key (``all-MiniLM-L6-v2@256+onnx-int8``), the
  same key a copy derived into ``data_dir/models`` would carry, since it is the same
  derivation. Any other model on ``onnx-int8`` is derived into ``data_dir/models``.
* Every file is checked against the manifest each time the model is loaded; a missing,
  truncated or altered file is :class:`~paperlens.embedding.ModelCacheError` naming the
  file and how to rebuild it, never a silently different model.
* Loading it imports neither torch nor transformers nor the full weights' package; this
  module imports only the standard library and :mod:`.cache`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from paperlens.embedding import ModelCacheError, model_label
from paperlens.embedding.cache import CACHE_FORMAT, MANIFEST, check_files

#: The model and backend the shipped files are.
SHIPPED_MODEL = "all-MiniLM-L6-v2"
SHIPPED_BACKEND = "onnx-int8"
#: Where the package keeps them (package data, next to this package).
SHIPPED_DIR = Path(__file__).resolve().parent.parent / "models" / "all-MiniLM-L6-v2-int8"
#: How to make them again, in every error about them.
REBUILD = (
    "reinstall paperlens, or rebuild the files from the full weights with "
    "`python scripts/derive_onnx.py` (needs pip install 'paperlens[torch]')"
)


def is_shipped(model: str, backend: str) -> bool:
    """Whether ``model`` on ``backend`` is the model shipped with paperlens."""
    return backend == SHIPPED_BACKEND and model_label(model) == SHIPPED_MODEL


def load_shipped(path: Path = SHIPPED_DIR) -> dict[str, Any]:
    """The manifest of the shipped model in ``path``, after checking every file it lists
    (size and SHA-256); :class:`ModelCacheError` naming the first bad file otherwise."""
    manifest_file = path / MANIFEST
    try:
        manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelCacheError(
            f"the shipped model's manifest {manifest_file} is missing: {REBUILD}"
        ) from None
    except (OSError, ValueError) as exc:
        raise ModelCacheError(
            f"the shipped model's manifest {manifest_file} cannot be read ({exc}): {REBUILD}"
        ) from exc
    expected = {"format": CACHE_FORMAT, "model": SHIPPED_MODEL, "variant": SHIPPED_BACKEND}
    if not isinstance(manifest, dict) or any(manifest.get(k) != v for k, v in expected.items()):
        raise ModelCacheError(
            f"{manifest_file} does not describe {SHIPPED_MODEL} on {SHIPPED_BACKEND} "
            f"(cache format {CACHE_FORMAT}): {REBUILD}"
        )
    problem = check_files(path, manifest)
    if problem is not None:
        raise ModelCacheError(f"the shipped model is damaged: {problem}; {REBUILD}")
    return manifest
