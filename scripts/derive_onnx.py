"""Derive the default encoder's model shipped in ``src/paperlens/models/all-MiniLM-L6-v2-int8``
from the bundled all-MiniLM-L6-v2 weights: the transformer exported to ONNX (opset 17),
weights quantized to int8 per channel, with its tokenizer and a manifest of SHA-256s.
Offline; needs the torch extra (``pip install -e '.[torch]'``).

    python scripts/derive_onnx.py            # rewrite the shipped files
    python scripts/derive_onnx.py --check    # derive into a scratch dir and compare

``--check`` compares the fresh files with the shipped ones byte for byte (SHA-256) and,
whatever that finds, their vectors on sample abstracts (cosine; exit 1 below 0.9999).
The export is the same code as ``paperlens models prepare --backend onnx-int8`` for any
other model (``paperlens.embedding.onnx_encoder``).
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import shutil
import sys
import tempfile
from importlib import resources
from pathlib import Path

import numpy as np

from paperlens.embedding.cache import MANIFEST
from paperlens.embedding.onnx_encoder import OnnxEncoder, derive_shipped
from paperlens.embedding.shipped import SHIPPED_DIR

#: Vectors must agree at least this much (cosine) for --check to pass.
MIN_COSINE = 0.9999


def sample_texts(n: int = 64) -> list[str]:
    """Titles and abstracts of the first ``n`` papers of the bundled ML sample."""
    path = resources.files("paperlens.sample").joinpath("ml-abstracts-1000.jsonl.gz")
    with gzip.open(str(path), "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in itertools.islice(fh, n)]
    return [f"{r['title']}. {r['abstract']}" for r in rows]


def encoder_for(path: Path) -> OnnxEncoder:
    """An encoder over the shipped-format model in ``path`` (checked like the real one)."""
    return OnnxEncoder("all-MiniLM-L6-v2", path, quantized=True, shipped_dir=path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=SHIPPED_DIR, help="where to write")
    parser.add_argument(
        "--check", action="store_true", help="derive into a scratch dir; compare with --out"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="derive-onnx-") as scratch:
        work = Path(scratch) / "models"
        target = Path(scratch) / "fresh" if args.check else args.out
        if not args.check and target.exists():
            shutil.rmtree(target)
        manifest = derive_shipped(target, work, notify=lambda m: print(m, file=sys.stderr))
        for name, meta in manifest["files"].items():
            print(f"{name}: {meta['size']:,} bytes, sha256 {meta['sha256']}")
        if not args.check:
            print(f"wrote {target}")
            return 0
        shipped = json.loads((args.out / MANIFEST).read_text(encoding="utf-8"))
        same = all(
            shipped["files"].get(name, {}).get("sha256") == meta["sha256"]
            for name, meta in manifest["files"].items()
        )
        print("bit-identical to the shipped files" if same else "differs from the shipped files")
        texts = sample_texts()
        fresh = encoder_for(target).encode(texts)
        theirs = encoder_for(args.out).encode(texts)
        cosines = (fresh * theirs).sum(axis=1)
        print(
            f"vectors on {len(texts)} sample abstracts: cosine min {cosines.min():.6f}, "
            f"mean {cosines.mean():.6f}, max |difference| {np.abs(fresh - theirs).max():.2e}"
        )
        return 0 if same or cosines.min() >= MIN_COSINE else 1


if __name__ == "__main__":
    sys.exit(main())
