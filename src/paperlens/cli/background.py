"""``paperlens index`` in a child process beside a server: how ``paperlens demo`` serves
the UI on a first run before the papers are embedded.

Keyword search needs only BM25 (seconds); embedding the sample takes one to two minutes
on two cores, more on slow ones. So the demo builds the keyword side itself, starts
``python -m paperlens index`` for the same data directory and database here, and serves
at once; the server picks up the dense index and the "similar" lists when the child
publishes them, as it would from a ``paperlens index`` run by cron (hybrid search is
answered by keywords alone until then, with a notice: ``core.DENSE_NOT_READY``).

The child runs at a lower priority, so pages stay quick while it embeds; its output
goes to a log file, not over the server's; a thread reports on the console when it
ends. Stopping the demo stops the child: indexing is resumable, the next run goes on.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from rich.markup import escape

from paperlens.cli.output import console, err_console
from paperlens.config import Settings

#: How much lower the child's CPU priority is than the server's (``nice``).
NICENESS = 10


class BackgroundIndex:
    """One ``paperlens index`` child for ``settings``; :meth:`stop` ends it."""

    def __init__(self, settings: Settings, log_path: Path) -> None:
        self.log_path = log_path
        # The child must index what this process serves (same data, database, model
        # and token limit), whatever options or variables chose them.
        env = {**os.environ, **settings.as_environment()}
        env["PAPERLENS_DATA_DIR"] = str(settings.data_dir)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = log_path.open("ab")
        self._started = time.monotonic()
        self._stopping = False
        self.process = subprocess.Popen(
            [sys.executable, "-m", "paperlens", "index"],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        with contextlib.suppress(OSError):  # a lower priority is a nicety, not a need
            os.setpriority(os.PRIO_PROCESS, self.process.pid, NICENESS)
        self._watcher = threading.Thread(
            target=self._report, name="paperlens-background-index", daemon=True
        )
        self._watcher.start()

    def _report(self) -> None:
        code = self.process.wait()
        self._log.close()
        if self._stopping:
            return
        seconds = time.monotonic() - self._started
        if code == 0:
            console.print(
                f"[green]semantic search and similar papers are ready[/] "
                f"(indexed in the background in {seconds:.0f} s)"
            )
        else:
            err_console.print(
                f"[yellow]note:[/] the background index stopped (exit {code}): "
                f"{escape(last_line(self.log_path))} — see {escape(str(self.log_path))}"
            )

    def stop(self, timeout: float = 10.0) -> None:
        """End the child (if still running) and wait for it; what it finished stays."""
        self._stopping = True
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._watcher.join(timeout)


def last_line(path: Path) -> str:
    """The last non-blank line of a log file (at most 300 characters), or ``""``."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    for line in reversed(lines):
        if line.strip():
            return line.strip()[:300]
    return ""
