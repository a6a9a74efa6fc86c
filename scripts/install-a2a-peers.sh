#!/usr/bin/env bash
# Install the A2A 0.3 peers the tests drive (idempotent, repo-local) into their own venv,
# .cache/a2a-peers-venv, from the pinned tests/server/a2a-peers-requirements.txt:
#   - a2a-sdk 0.3.26 (the last 0.3-line SDK: its client against our server, its server against our client),
#   - a2a-lint (a third-party A2A linter, run live against `axocoatl serve`).
# axocoatl's own venv keeps a2a-sdk 1.x; the two cannot share one. The A2A 0.3 tests fail (they never
# skip) when this venv is missing or stale: run this first (scripts/setup.sh does).
set -euo pipefail

repo_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python_bin="${PYTHON:-python3}"
log() { echo "[a2a-peers] $*"; }

requirements="$repo_dir/tests/server/a2a-peers-requirements.txt"
venv="$repo_dir/.cache/a2a-peers-venv"
stamp="$venv/.requirements.sha256"
digest="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$digest" ]]; then
    log "a2a-sdk 0.3 peers up to date"
    exit 0
fi
if [[ ! -x "$venv/bin/python" ]]; then
    log "creating $venv"
    mkdir -p "$repo_dir/.cache"
    "$python_bin" -m venv "$venv"
fi
log "installing $(grep -v '^#' "$requirements" | xargs) into .cache/a2a-peers-venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$requirements"
echo "$digest" > "$stamp"
