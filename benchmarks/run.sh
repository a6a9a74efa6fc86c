#!/usr/bin/env bash
# Run every benchmark (axocoatl vs LangGraph vs CrewAI) and rewrite docs/BENCHMARKS.md.
# Arguments go to `python -m benchmarks` (--reps N, --quick, --only chain,cold, --no-peers).
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m benchmarks "$@"
