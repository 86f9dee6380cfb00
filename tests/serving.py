"""Start ``paperlens serve`` as a real process for a test and wait until it answers."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import httpx


def start_serve(env: dict[str, str], *args: str) -> tuple[subprocess.Popen[str], str]:
    """``paperlens serve --port 0 ARGS`` with ``env``: the process and its base URL
    (``http://127.0.0.1:PORT``), once the address is printed and a request connects.
    The caller stops the process."""
    cmd = [sys.executable, "-m", "paperlens.cli.main", "serve", "--port", "0", *args]
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert proc.stdout is not None
    line, seen = "", []
    deadline = time.monotonic() + 120
    while "serving on" not in line and time.monotonic() < deadline:
        line = proc.stdout.readline()
        seen.append(line)
        exited = f"serve exited ({proc.returncode}): " + "".join(seen)[-2000:]
        assert line or proc.poll() is None, exited
    found = re.search(r"http://127\.0\.0\.1:\d+", line)
    assert found, line
    base = found.group(0)
    for _ in range(100):
        try:
            httpx.get(f"{base}/static/favicon.svg", timeout=5)
            break
        except httpx.ConnectError:
            time.sleep(0.1)
    return proc, base
