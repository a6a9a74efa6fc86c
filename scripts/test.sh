#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite, slow tests included (local model,
# servers, crash tests), then the linters and the type checker. Extra arguments go to pytest.
set -euo pipefail
repo_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$repo_dir/scripts/setup.sh"
cd "$repo_dir"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
