"""``paperlens digest schedule``: run the sender every few minutes, for ever.

Each tick sends whatever is due (:meth:`Digests.send`); the send log makes ticks
idempotent, so the interval only bounds how late a digest may be. The same is had from
cron with ``paperlens digest send`` (see the README); use one or the other.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from paperlens.digest.sender import SendReport
from paperlens.digest.service import Digests

log = logging.getLogger(__name__)


def run_schedule(
    digests: Digests,
    interval: float,
    *,
    stop: threading.Event | None = None,
    on_report: Callable[[SendReport], None] | None = None,
    max_ticks: int | None = None,
) -> int:
    """Tick every ``interval`` seconds until ``stop`` is set (or ``max_ticks`` ran);
    a failing tick is logged and the next one tries again. Returns the ticks run."""
    stop = stop or threading.Event()
    ticks = 0
    while not stop.is_set():
        try:
            report = digests.send()
        except Exception:
            log.exception("digest tick failed; trying again in %.0f s", interval)
        else:
            if on_report is not None:
                on_report(report)
        ticks += 1
        if max_ticks is not None and ticks >= max_ticks:
            break
        stop.wait(interval)
    return ticks
