"""The ingest pipeline: source entries -> batches -> store, with checkpoints.

Memory is bounded by the batch size whatever the input's length. Each batch is
written in one transaction together with the source position after its last entry,
so after a crash or Ctrl-C the next run resumes from the last committed batch and
every paper ends up stored exactly once. On normal completion the checkpoint is
cleared, so the next run of the same source starts over (and, being idempotent,
changes nothing unless the data did).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from paperlens.sources.base import Checkpoint, Deleted, Parsed, Rejected, Source
from paperlens.store.papers import BatchResult, PaperStore

#: Rejections kept in the report for display; all are counted.
MAX_KEPT_REJECTS = 1000


@dataclass(slots=True)
class IngestReport:
    source_key: str
    resumed_from: str | None = None
    counts: BatchResult = field(default_factory=BatchResult)
    rejected: int = 0
    rejects: list[Rejected] = field(default_factory=list)
    entries: int = 0
    seconds: float = 0.0

    @property
    def stored(self) -> int:
        return self.counts.added + self.counts.updated + self.counts.unchanged


ProgressCallback = Callable[[int, str | None], None]


def ingest(
    source: Source,
    store: PaperStore,
    *,
    batch_size: int = 1000,
    restart: bool = False,
    on_progress: ProgressCallback | None = None,
    on_reject: Callable[[Rejected], None] | None = None,
) -> IngestReport:
    """Read ``source`` into ``store``; resume from its checkpoint unless ``restart``."""
    started = time.perf_counter()
    key = source.key
    resume_from = None if restart else store.checkpoint(key)
    report = IngestReport(source_key=key, resumed_from=resume_from)
    batch: list[Parsed | Deleted] = []
    position: str | None = resume_from

    def flush() -> None:
        checkpoint = (key, position) if position is not None else None
        if batch or checkpoint:
            report.counts += store.write_batch(batch, checkpoint)
        batch.clear()

    for entry in source.entries(resume_from):
        report.entries += 1
        if isinstance(entry, Rejected):
            report.rejected += 1
            if len(report.rejects) < MAX_KEPT_REJECTS:
                report.rejects.append(entry)
            if on_reject is not None:
                on_reject(entry)
        elif not isinstance(entry, Checkpoint):
            batch.append(entry)
        if entry.position is not None:
            position = entry.position
        if len(batch) >= batch_size:
            flush()
        if on_progress is not None and report.entries % 500 == 0:
            on_progress(report.entries, position)
    flush()
    store.clear_checkpoint(key)
    if on_progress is not None:
        on_progress(report.entries, position)
    report.seconds = time.perf_counter() - started
    return report
