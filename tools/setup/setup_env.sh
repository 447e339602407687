#!/usr/bin/env bash
# Create .venv/ and install a pinned OpenMMLab stack plus rla_mm (editable).
# Called by `make setup`; safe to rerun (pip skips what is already installed).
#
#   PYTHON       interpreter for the venv (default: python3.11, else python3)
#   VENV         venv folder (default: .venv)
#   STACK        the PyTorch stack (see tools/setup/stacks.py: cu130, cu128, cu121);
#                default: the first that fits this machine's GPUs and driver
#   FORCE_CUDA=1 build mmcv's CUDA ops too (needs nvcc); see tools/setup/build_mmcv.sh
#   EDITABLE=0   install rla_mm with a plain `pip install .` (as into a user's
#                environment) instead of in editable mode
set -euo pipefail
cd "$(dirname "$0")/../.."

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
PIP_FLAGS=(--quiet --disable-pip-version-check)

CHOICE=$("$PYTHON" tools/setup/stacks.py choose) || exit 1
read -r STACK_NAME STACK_PINS <<<"$CHOICE"
echo "[setup] $("$PYTHON" tools/setup/stacks.py explain)"

if [ ! -x "$VENV/bin/python" ]; then
    echo "[setup] creating $VENV with $("$PYTHON" --version)"
    "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
"$PY" -c 'import sys; assert sys.version_info[:2] >= (3, 9), sys.version' \
    || { echo "[setup] Python >= 3.9 is required" >&2; exit 1; }

echo "[setup] torch + torchvision: $STACK_PINS (about 2 minutes the first time)"
# shellcheck disable=SC2086  # the pins are separate words
"$PY" -m pip install "${PIP_FLAGS[@]}" -r requirements/build.txt $STACK_PINS

echo "[setup] mmcv with compiled ops"
if [ "${FORCE_CUDA:-0}" = "1" ] && [ -z "${TORCH_CUDA_ARCH_LIST:-}" ]; then
    TORCH_CUDA_ARCH_LIST=$("$PYTHON" tools/setup/stacks.py arch-list "$STACK_NAME")
    export TORCH_CUDA_ARCH_LIST
fi
bash tools/setup/build_mmcv.sh "$PY"

echo "[setup] OpenMMLab packages, pinned dependencies, test tools, ONNX (optional)"
# A stack that pins its own numpy (an older torch) keeps it.
DEPS=$(mktemp)
trap 'rm -f "$DEPS"' EXIT
if [[ " $STACK_PINS " == *" numpy=="* ]]; then
    grep -v '^numpy==' requirements/deps.txt > "$DEPS"
else
    cp requirements/deps.txt "$DEPS"
fi
# shellcheck disable=SC2086
"$PY" -m pip install "${PIP_FLAGS[@]}" --no-deps -r requirements/openmmlab.txt \
    -r "$DEPS" -r requirements/tests.txt -r requirements/optional.txt $STACK_PINS

if [ "${EDITABLE:-1}" = "1" ]; then
    echo "[setup] rla_mm (editable)"
    "$PY" -m pip install "${PIP_FLAGS[@]}" --no-deps --no-build-isolation -e .
else
    echo "[setup] rla_mm (pip install ., resolving its requirements)"
    "$PY" -m pip freeze --exclude rla_mm | sort > "$VENV/.freeze-before"
    "$PY" -m pip install "${PIP_FLAGS[@]}" --no-build-isolation .
    "$PY" -m pip freeze --exclude rla_mm | sort > "$VENV/.freeze-after"
    if ! diff -u "$VENV/.freeze-before" "$VENV/.freeze-after"; then
        echo "[setup] installing rla_mm changed the packages above" >&2
        exit 1
    fi
fi

"$PY" - <<'PYEOF'
import importlib.metadata as md
cv = [d.metadata['Name'] for d in md.distributions()
      if d.metadata['Name'].lower().startswith('opencv')]
assert cv == ['opencv-python-headless'], f'expected only opencv-python-headless, found {cv}'
import torch, torchvision, mmcv, mmcv.ops, mmengine, mmdet, mmpretrain, rla_mm  # noqa
print(f'[setup] ok: torch {torch.__version__}, torchvision {torchvision.__version__}, '
      f'mmcv {mmcv.__version__}, mmengine {mmengine.__version__}, mmdet {mmdet.__version__}, '
      f'mmpretrain {mmpretrain.__version__}, rla_mm {rla_mm.__version__}')
PYEOF
