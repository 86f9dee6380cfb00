#!/usr/bin/env bash
# Create .venv with Python 3.11 and install paperlens into it (sourced by run.sh and test.sh).
#   bootstrap_venv [extra]   e.g. bootstrap_venv dev
# The default install has no torch (the default encoder is int8 ONNX, shipped inside the
# package). An extra that brings torch (torch, encoders, dev) gets it first from PyTorch's
# CPU-only index (about 200 MB instead of several GB of CUDA libraries); where that index
# is unreachable, pip's configured sources are used.
set -euo pipefail

find_python() {
    for candidate in "${PYTHON:-}" python3.11 python3 python; do
        [ -n "$candidate" ] || continue
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    echo "paperlens needs Python 3.11 (set PYTHON=/path/to/python3.11)" >&2
    return 1
}

bootstrap_venv() {
    local extra="${1:-}"
    local root
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    local venv="$root/.venv"
    if [ ! -x "$venv/bin/python" ]; then
        local python
        python="$(find_python)"
        echo "creating $venv with $python" >&2
        "$python" -m venv "$venv"
    fi
    local pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)
    local torch_version needs_torch=""
    case ",$extra," in *,torch,* | *,encoders,* | *,dev,*) needs_torch=1 ;; esac
    torch_version="$(sed -n 's/^ *"torch==\([^"]*\)",.*/\1/p' "$root/pyproject.toml")"
    if [ -n "$needs_torch" ] && ! "$venv/bin/python" -c "import torch" >/dev/null 2>&1; then
        echo "installing torch $torch_version (CPU)" >&2
        "${pip[@]}" install --retries 0 --timeout 10 "torch==$torch_version" \
            --index-url https://download.pytorch.org/whl/cpu 2>/dev/null ||
            "${pip[@]}" install "torch==$torch_version"
    fi
    local target="$root"
    [ -n "$extra" ] && target="$root[$extra]"
    echo "installing paperlens${extra:+ [$extra]}" >&2
    "${pip[@]}" install -e "$target"
    export PATH="$venv/bin:$PATH"
}
