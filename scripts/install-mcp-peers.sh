#!/usr/bin/env bash
# Install the third-party MCP peers the tests drive (idempotent, repo-local):
#   - npm, into tools/mcp/: @modelcontextprotocol/server-everything, server-filesystem and server-memory (servers for our
#     client), the official conformance suite @modelcontextprotocol/conformance, the MCP Inspector (a
#     third-party client for our server), and node@22, which both need (the system's Node 20 lacks
#     fs.globSync; the Inspector 2.x wants >= 22.19): the real binary, from the npm registry
#   - PyPI: mcp-server-time into the given Python (the project's venv)
# The MCP tests fail (they never skip) when these are missing: run this first (scripts/setup.sh does).
set -euo pipefail

repo_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python_bin="${1:-$repo_dir/.venv/bin/python}"
log() { echo "[mcp-peers] $*"; }

# Pinned: the versions the tests were written against.
npm_packages=(
    "@modelcontextprotocol/server-everything@2026.8.31"
    "@modelcontextprotocol/server-filesystem@2026.8.31"
    "@modelcontextprotocol/server-memory@2026.8.31"
    "@modelcontextprotocol/conformance@0.1.16"
    "@modelcontextprotocol/inspector@2.12.0"
    "node@22"
)
dir="$repo_dir/tools/mcp"
mkdir -p "$dir"
stamp="$dir/.installed-$(printf '%s\n' "${npm_packages[@]}" | sha256sum | cut -c1-16)"
if [[ ! -f "$stamp" ]]; then
    if ! command -v npm >/dev/null; then
        echo "error: npm is needed for the MCP reference servers (apt-get install -y npm)" >&2
        exit 2
    fi
    log "installing ${npm_packages[*]} into tools/mcp"
    [[ -f "$dir/package.json" ]] || (cd "$dir" && npm init -y >/dev/null)
    (cd "$dir" && npm install --no-audit --no-fund --silent "${npm_packages[@]}")
    rm -f "$dir"/.installed-*
    touch "$stamp"
else
    log "npm servers up to date"
fi

if ! "$python_bin" -c 'import mcp_server_time' 2>/dev/null; then
    log "installing mcp-server-time"
    "$python_bin" -m pip install -q "mcp-server-time==2026.10.19"
fi
