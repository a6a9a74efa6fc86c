#!/usr/bin/env bash
# Set up (if needed) and run the main job: a two-agent workflow (researcher → summarizer)
# on the embedded local model, offline. Extra arguments replace the default task.
set -euo pipefail
repo_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$repo_dir/scripts/setup.sh"
task="${*:-Explain in three sentences why a write-ahead log makes a database crash-safe.}"
cd "$repo_dir"
exec "$repo_dir/.venv/bin/axocoatl" --config axocoatl.example.yaml workflow run research -i "$task"
