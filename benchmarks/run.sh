#!/usr/bin/env bash
# Run every benchmark (axocoatl vs LangGraph vs CrewAI) and rewrite docs/BENCHMARKS.md.
# Arguments go to `python -m benchmarks` (--reps N, --quick, --only chain,cold, --no-peers).
# Sets the project up first, and installs the load tools it measures with (hyperfine for
# cold starts, wrk for the daemon: a C load generator, so the client is not the bottleneck).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
missing=()
command -v hyperfine >/dev/null || missing+=(hyperfine)
command -v wrk >/dev/null || missing+=(wrk)
if ((${#missing[@]})); then
    echo "[benchmarks] installing ${missing[*]} with apt"
    sudo_cmd=""
    [[ $(id -u) -ne 0 ]] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq && $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi
exec .venv/bin/python -m benchmarks "$@"
