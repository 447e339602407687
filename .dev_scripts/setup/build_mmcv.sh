#!/usr/bin/env bash
# Build (once) and install mmcv with compiled ops into the active Python.
#
# mmcv 2.1.0 ships only as a source distribution. Against torch 2.14 it needs:
#   * setuptools<81 (its setup.py imports pkg_resources),
#   * --no-build-isolation (its setup.py imports torch),
#   * C++20 instead of the hard-coded C++17 (torch 2.14 headers refuse older standards).
# The built wheel is cached outside the repository, keyed by mmcv version, torch version
# and CUDA flavour, because pip's own cache keys it by the sdist alone.
#
# Usage: build_mmcv.sh PYTHON
#   RLA_MM_CACHE   cache root (default: ${XDG_CACHE_HOME:-~/.cache}/rla_mm)
#   FORCE_CUDA=1   build the CUDA ops too, for TORCH_CUDA_ARCH_LIST (setup_env.sh sets
#                  the stack's). Needs a CUDA torch; the compiler is CUDA_HOME's, or nvcc
#                  on PATH, or else the registry's NVIDIA packages matching torch's CUDA
#                  (.dev_scripts/setup/cuda_toolkit.py). The wheel must hold device code for
#                  every listed arch (cuobjdump) before it is cached.
#   MAX_JOBS       parallel compile jobs (default: number of cores)
set -euo pipefail

PY=${1:?usage: build_mmcv.sh PYTHON}
MMCV_VERSION=${MMCV_VERSION:-2.1.0}
CACHE_ROOT=${RLA_MM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rla_mm}

TORCH_VERSION=$("$PY" -c 'import torch; print(torch.__version__.split("+")[0])')
TOOLKIT="$(dirname "$0")/cuda_toolkit.py"
if [ "${FORCE_CUDA:-0}" = "1" ]; then
    if [ -z "${TORCH_CUDA_ARCH_LIST:-}" ]; then
        echo "[setup] FORCE_CUDA=1 needs TORCH_CUDA_ARCH_LIST (the archs to build for," \
            "e.g. \"8.0;9.0\"); make setup sets the stack's" >&2
        exit 1
    fi
    FLAVOUR=cuda$("$PY" -c 'import torch; print((torch.version.cuda or "none").replace(".", ""))')
    # the arch list is part of what was built
    FLAVOUR=${FLAVOUR}_sm$(echo "${TORCH_CUDA_ARCH_LIST:-default}" | tr -cd '0-9;+' | tr ';' '-')
else
    FLAVOUR=cpu
fi
KEY="mmcv-${MMCV_VERSION}_torch-${TORCH_VERSION}_${FLAVOUR}_$("$PY" -c 'import sys; print("cp%d%d" % sys.version_info[:2])')"
WHEEL_DIR="$CACHE_ROOT/wheels/$KEY"

# Already installed from this very build: nothing to do.
MARKER=$("$PY" -c 'import sys; print(sys.prefix)')/.rla_mm-mmcv
if [ "$(cat "$MARKER" 2>/dev/null)" = "$KEY" ] && "$PY" -c 'import mmcv.ops' 2>/dev/null; then
    echo "[setup] mmcv: $KEY already installed"
    exit 0
fi

if [ "${FORCE_CUDA:-0}" = "1" ]; then
    CUDA_HOME=$("$PY" "$TOOLKIT" home "$PY")
    export CUDA_HOME PATH="$CUDA_HOME/bin:$PATH"
    echo "[setup] CUDA toolkit: $CUDA_HOME; archs: $TORCH_CUDA_ARCH_LIST"
fi

if ! ls "$WHEEL_DIR"/mmcv-*.whl >/dev/null 2>&1; then
    echo "[setup] building mmcv $MMCV_VERSION with ops for torch $TORCH_VERSION ($FLAVOUR)."
    if [ "${FORCE_CUDA:-0}" = "1" ]; then
        echo "[setup] this happens once per machine and arch list; see README for the time."
    else
        echo "[setup] this happens once per machine and takes about 12 minutes on 2 cores."
    fi
    WORK=$(mktemp -d)
    trap 'rm -rf "$WORK"' EXIT
    "$PY" -m pip download --quiet --no-deps --no-build-isolation --no-binary :all: \
        "mmcv==$MMCV_VERSION" -d "$WORK"
    tar -xzf "$WORK/mmcv-$MMCV_VERSION.tar.gz" -C "$WORK"
    SRC="$WORK/mmcv-$MMCV_VERSION"
    # torch >= 2.10 headers require C++20 (upstream mmcv issue 3341).
    sed -i "s/-std=c++17/-std=c++20/g; s/'-std=c++14'/'-std=c++20'/g" "$SRC/setup.py"
    grep -q -- '-std=c++20' "$SRC/setup.py" || { echo "[setup] patching mmcv setup.py failed" >&2; exit 1; }
    MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} "$PY" -m pip wheel --no-deps \
        --no-build-isolation --no-cache-dir -w "$WORK/dist" "$SRC"
    if [ "${FORCE_CUDA:-0}" = "1" ]; then
        echo "[setup] device code in the wheel:"
        "$PY" "$TOOLKIT" archs "$CUDA_HOME" "$WORK"/dist/mmcv-*.whl \
            --expect "$TORCH_CUDA_ARCH_LIST"
    fi
    mkdir -p "$WHEEL_DIR"
    cp "$WORK"/dist/mmcv-*.whl "$WHEEL_DIR/"
fi
echo "[setup] installing $(basename "$(ls "$WHEEL_DIR"/mmcv-*.whl)") from $WHEEL_DIR"
"$PY" -m pip install --quiet --no-deps --force-reinstall "$WHEEL_DIR"/mmcv-*.whl
echo "$KEY" > "$MARKER"
