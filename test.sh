#!/usr/bin/env bash
# The whole test suite: install (with dev tools and, where possible, Debian's chromium for
# the browser tests), then lint, type-check and run pytest. `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/bootstrap.sh

if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = 0 ]; then
        echo "installing Debian's chromium for the browser tests" >&2
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "note: /usr/bin/chromium is missing and cannot be installed here; browser tests will skip" >&2
    fi
fi

bootstrap_venv dev
export HF_HUB_OFFLINE=1

echo "== ruff" >&2
ruff check src tests bench
ruff format --check src tests bench
echo "== mypy" >&2
mypy
echo "== import contracts (.importlinter)" >&2
lint-imports --no-cache
# Two processes (-n 2), each taking a whole test module at a time (--dist loadfile): a
# module's module- and session-scoped fixtures (the derived models, a Ray head) are then
# built in one process only. Tests use free ports and their own temporary directories.
# Pass -n 0 to run in one process.
echo "== pytest (SQLite)" >&2
pytest -n 2 --dist loadfile "$@"

# Again on PostgreSQL, only the tests that reach tests/databases.py (marked `db` by
# tests/conftest.py): the others do not depend on the backend and ran above.
echo "== pytest (PostgreSQL + pgvector): the tests marked db" >&2
pgdata="$(mktemp -d)/pgdata"
PAPERLENS_TEST_DATABASE_URL="$(python scripts/postgres.py start "$pgdata")"
export PAPERLENS_TEST_DATABASE_URL
trap 'python scripts/postgres.py stop "$pgdata" >/dev/null 2>&1 || true' EXIT
pytest -n 2 --dist loadfile -m db "$@"
