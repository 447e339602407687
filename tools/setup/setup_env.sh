#!/usr/bin/env bash
# Create .venv/ and install the pinned OpenMMLab stack plus rla_mm (editable).
# Called by `make setup`; safe to rerun (pip skips what is already installed).
#
#   PYTHON       interpreter for the venv (default: python3.11, else python3)
#   VENV         venv folder (default: .venv)
#   FORCE_CUDA=1 build mmcv's CUDA ops too (needs nvcc); see tools/setup/build_mmcv.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
PIP_FLAGS=(--quiet --disable-pip-version-check)

if [ ! -x "$VENV/bin/python" ]; then
    echo "[setup] creating $VENV with $("$PYTHON" --version)"
    "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
"$PY" -c 'import sys; assert sys.version_info[:2] >= (3, 9), sys.version' \
    || { echo "[setup] Python >= 3.9 is required" >&2; exit 1; }

echo "[setup] torch + torchvision (about 2 minutes the first time)"
"$PY" -m pip install "${PIP_FLAGS[@]}" -r requirements/build.txt -r requirements/torch.txt

echo "[setup] mmcv with compiled ops"
if ! "$PY" -c 'import mmcv, mmcv.ops' >/dev/null 2>&1; then
    bash tools/setup/build_mmcv.sh "$PY"
fi

echo "[setup] OpenMMLab packages, pinned dependencies, test tools, ONNX (optional)"
"$PY" -m pip install "${PIP_FLAGS[@]}" --no-deps -r requirements/openmmlab.txt \
    -r requirements/deps.txt -r requirements/tests.txt -r requirements/optional.txt

echo "[setup] rla_mm (editable)"
"$PY" -m pip install "${PIP_FLAGS[@]}" --no-deps --no-build-isolation -e .

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
