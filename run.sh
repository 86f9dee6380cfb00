#!/usr/bin/env bash
# The main job on the embedded default: install into .venv, load the bundled sample corpus,
# build its keyword index and serve the web UI (http://127.0.0.1:8000) while the papers are
# embedded in the background. Ctrl-C stops it; running it again reuses what is already
# installed, imported and indexed.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/bootstrap.sh
bootstrap_venv
export PAPERLENS_DATA_DIR="${PAPERLENS_DATA_DIR:-$PWD/.data/demo}"
exec paperlens demo "$@"
