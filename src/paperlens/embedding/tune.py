"""Domain adaptation of a sentence-transformers model on a reader's own papers.

No labels: each paper gives two positive pairs, its title with its abstract and one of
its abstract's sentences with the rest of the abstract, and the model is trained with
in-batch negatives (``MultipleNegativesRankingLoss``: every other pair's second text in
the batch is a negative; SPECTER-style self-supervision without citations). One epoch,
a small learning rate, linear warm-up and decay. The result is a plain
sentence-transformers directory, usable as ``model`` with any backend (the ONNX ones
derive from it as from any local model).

Used by ``bench/tune.py``; not a command: on CSFCube dev it did not improve the served
similar list (bench/README.md, "tune.py"), so the product does not offer it yet.

Invariants:

* Deterministic for a given seed, source model, papers and torch build (one thread
  count): pairs, their order and dropout all come from ``seed``.
* Nothing is downloaded: the source is a local model directory.
* Importing this module imports neither torch nor sentence-transformers; the functions
  that need them raise :class:`~paperlens.embedding.BackendUnavailable` (one line, the
  extra to install) when they are missing.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from paperlens.embedding import Notify
from paperlens.embedding.cache import log_progress, require

#: Pairs shorter than this (characters) teach nothing and are skipped.
MIN_CHARS = 20


@dataclass(frozen=True, slots=True)
class TuneConfig:
    """How a model is tuned."""

    epochs: int = 1
    batch_size: int = 32
    learning_rate: float = 2e-5
    max_seq_length: int = 128
    warmup: float = 0.1
    scale: float = 20.0
    seed: int = 0
    #: Stop after this many steps (None: the whole epochs).
    max_steps: int | None = None
    #: Stop after the step that passes this many seconds (None: no limit); the learning
    #: rate still follows the schedule of the full run.
    max_seconds: float | None = None
    #: Which pairs each paper gives: "title" (title, abstract), "sentence" (a sentence,
    #: the rest of the abstract), or both.
    pairs: tuple[str, ...] = ("title", "sentence")


def training_pairs(
    papers: Iterable[tuple[str, str]], pairs: Sequence[str] = ("title", "sentence"), seed: int = 0
) -> list[tuple[str, str]]:
    """Positive (anchor, positive) text pairs from (title, abstract) pairs, shuffled.
    Papers without an abstract give none; a one-sentence abstract gives no sentence pair."""
    from paperlens.rhetoric import split_sentences
    from paperlens.text import strip_latex

    unknown = set(pairs) - {"title", "sentence"}
    if unknown or not pairs:
        raise ValueError(f"pairs must be among 'title' and 'sentence', not {sorted(unknown)}")
    rng = random.Random(seed)  # noqa: S311 - a shuffle, not a secret
    out: list[tuple[str, str]] = []
    for title, abstract in papers:
        title_t, abstract_t = strip_latex(title).strip(), strip_latex(abstract).strip()
        if len(abstract_t) < MIN_CHARS:
            continue
        if "title" in pairs and len(title_t) >= MIN_CHARS // 2:
            out.append((title_t, abstract_t))
        sentences = split_sentences(abstract)
        if "sentence" in pairs and len(sentences) >= 2:
            i = rng.randrange(len(sentences))
            rest = " ".join(sentences[:i] + sentences[i + 1 :])
            if len(sentences[i]) >= MIN_CHARS and len(rest) >= MIN_CHARS:
                out.append((sentences[i], rest))
    rng.shuffle(out)
    return out


def tune(
    source: str | Path,
    pairs: Sequence[tuple[str, str]],
    out: Path,
    config: TuneConfig = TuneConfig(),
    *,
    threads: int | None = None,
    notify: Notify = log_progress,
) -> dict[str, Any]:
    """Fine-tune the sentence-transformers model in ``source`` on ``pairs`` and save it
    to ``out`` (a sentence-transformers directory). Returns facts about the run (steps,
    seconds, CPU seconds, mean loss of the first and last tenth of the steps)."""
    require("torch", "tune")
    require("sentence_transformers", "tune")
    import torch
    from sentence_transformers import SentenceTransformer

    if len(pairs) < 2:
        raise ValueError(f"tuning needs at least 2 text pairs (in-batch negatives): {len(pairs)}")
    if config.batch_size < 2:
        raise ValueError("batch_size must be at least 2 (in-batch negatives)")
    if threads is not None:
        torch.set_num_threads(threads)
    torch.manual_seed(config.seed)
    model: Any = SentenceTransformer(str(source), device="cpu")
    model.max_seq_length = config.max_seq_length
    batches = [
        pairs[i : i + config.batch_size]
        for i in range(0, len(pairs), config.batch_size)
        if len(pairs[i : i + config.batch_size]) >= 2
    ]
    total = len(batches) * config.epochs
    if config.max_steps is not None:
        total = min(total, config.max_steps)
    warm = max(1, int(config.warmup * total))
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: (s + 1) / warm if s < warm else max(0.0, (total - s) / max(1, total - warm)),
    )

    def embed(texts: list[str]) -> Any:
        features = model.preprocess(texts)  # sentence-transformers 6's name for tokenize
        return model(dict(features))["sentence_embedding"]

    model.train()
    losses: list[float] = []
    started, cpu_started = time.perf_counter(), time.process_time()
    step = 0
    for _ in range(config.epochs):
        for batch in batches:
            if step >= total:
                break
            if (
                config.max_seconds is not None
                and time.perf_counter() - started > config.max_seconds
            ):
                notify(f"time budget of {config.max_seconds:.0f} s reached after step {step}")
                total = step
                break
            a = embed([p[0] for p in batch])
            b = embed([p[1] for p in batch])
            a = torch.nn.functional.normalize(a, dim=-1)
            b = torch.nn.functional.normalize(b, dim=-1)
            logits = config.scale * a @ b.T
            loss = torch.nn.functional.cross_entropy(logits, torch.arange(len(batch)))
            loss.backward()  # type: ignore[no-untyped-call]
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            losses.append(loss.item())
            step += 1
            if step == 1 or step % 5 == 0 or step == total:
                notify(
                    f"step {step}/{total}: loss {losses[-1]:.3f}, "
                    f"{time.perf_counter() - started:.0f} s"
                )
    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    model.save(str(out))
    tenth = max(1, len(losses) // 10)
    return {
        "steps": step,
        "pairs": len(pairs),
        "seconds": round(time.perf_counter() - started, 1),
        "cpu_seconds": round(time.process_time() - cpu_started, 1),
        "loss_first": round(sum(losses[:tenth]) / tenth, 4),
        "loss_last": round(sum(losses[-tenth:]) / tenth, 4),
    }
