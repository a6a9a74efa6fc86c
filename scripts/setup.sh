#!/usr/bin/env bash
# Set up everything axocoatl needs on a fresh machine, idempotently:
#   - a virtualenv in .venv with axocoatl (editable) and its development tools,
#   - the embedded local model: llama-cpp-python built portable + SmolLM2-135M-Instruct,
#   - the embedding model weights (all-MiniLM-L6-v2, no torch).
# Nothing is installed outside the repository except system packages via apt when missing.
set -euo pipefail

repo_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_dir"
log() { echo "[setup] $*"; }

python_bin="${PYTHON:-python3}"
if ! "$python_bin" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
    echo "error: axocoatl needs Python >= 3.11 (found $("$python_bin" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2
    exit 2
fi

if [[ ! -x .venv/bin/python ]]; then
    log "creating .venv"
    "$python_bin" -m venv .venv
fi
venv_python="$repo_dir/.venv/bin/python"

stamp=".venv/.axocoatl-deps-$(sha256sum pyproject.toml | cut -c1-16)"
if [[ ! -f "$stamp" ]]; then
    log "installing axocoatl and its dependencies"
    "$venv_python" -m pip install -q --upgrade pip
    "$venv_python" -m pip install -q -e ".[dev]"
    rm -f .venv/.axocoatl-deps-*
    touch "$stamp"
else
    log "python dependencies up to date"
fi

"$repo_dir/scripts/install-local-llm.sh" "$venv_python"
if [[ -x "$repo_dir/scripts/install-embeddings.sh" ]]; then
    "$repo_dir/scripts/install-embeddings.sh" "$venv_python"
fi
log "ready: $repo_dir/.venv/bin/axocoatl"
