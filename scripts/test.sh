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
# Most slow tests wait on subprocesses, servers and sockets, so three workers beat the two cores;
# AXOCOATL_TEST_WORKERS=0 runs everything in this process. Files stay whole on one worker.
.venv/bin/python -m pytest -n "${AXOCOATL_TEST_WORKERS:-3}" --dist loadfile "$@"
