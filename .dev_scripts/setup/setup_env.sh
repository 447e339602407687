#!/usr/bin/env bash
# Create .venv/ and install a pinned OpenMMLab stack plus rla_mm (editable).
# Called by `make setup`; safe to rerun (pip skips what is already installed).
#
#   PYTHON       interpreter for the venv (default: python3.11, else python3)
#   VENV         venv folder (default: .venv)
#   STACK        the PyTorch stack (see .dev_scripts/setup/stacks.py: cu130, cu128, cu121);
#                default: the first that fits this machine's GPUs and driver
#   FORCE_CUDA=1 build mmcv's CUDA ops too (needs nvcc); see .dev_scripts/setup/build_mmcv.sh
#   EDITABLE=0   install rla_mm with a plain `pip install .` (as into a user's
#                environment) instead of in editable mode
set -euo pipefail
cd "$(dirname "$0")/../.."

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
PIP_FLAGS=(--quiet --disable-pip-version-check)

CHOICE=$("$PYTHON" .dev_scripts/setup/stacks.py choose) || exit 1
read -r STACK_NAME STACK_PINS <<<"$CHOICE"
echo "[setup] $("$PYTHON" .dev_scripts/setup/stacks.py explain)"

# A new environment takes several GiB: say so before pip runs out of space.
if ! compgen -G "$VENV/lib/python3*/site-packages/torch/__init__.py" >/dev/null; then
    "$PYTHON" .dev_scripts/setup/stacks.py disk "$STACK_NAME" "$VENV" || exit 1
fi
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
    TORCH_CUDA_ARCH_LIST=$("$PYTHON" .dev_scripts/setup/stacks.py arch-list "$STACK_NAME")
    export TORCH_CUDA_ARCH_LIST
fi
bash .dev_scripts/setup/build_mmcv.sh "$PY"

# Requirement files of this stack alone: MMPose (requirements/pose.txt) in the
# cu121 stack, the one whose numpy (1.26) its xtcocotools loads on.
STACK_REQS=$("$PYTHON" .dev_scripts/setup/stacks.py stack-requirements "$STACK_NAME")
echo "[setup] OpenMMLab packages, pinned dependencies, test and lint tools, ONNX (optional), MMSegmentation (rla_mm[seg])${STACK_REQS:+, $STACK_REQS}"
# The pinned packages, with the stack's own pins where it has them (an older
# torch keeps its numpy) and one OpenCV: the headless one, or opencv-python
# (EDITABLE=0: an environment as users build it; mmcv and mmengine declare it).
# MMSegmentation (requirements/seg.txt, the extra rla_mm[seg]) and the stack's
# own files go in here, before rla_mm, as a user's environment would have them.
REQS=$(mktemp)
trap 'rm -f "$REQS"' EXIT
# shellcheck disable=SC2086  # STACK_REQS: file names, separate words
"$PYTHON" .dev_scripts/setup/stacks.py requirements "$STACK_NAME" \
    $([ "${EDITABLE:-1}" = "1" ] || echo --user-env) requirements/openmmlab.txt \
    requirements/deps.txt requirements/tests.txt requirements/lint.txt \
    requirements/optional.txt requirements/seg.txt $STACK_REQS > "$REQS"
"$PY" -m pip install "${PIP_FLAGS[@]}" --no-deps -r "$REQS"

if [ "${EDITABLE:-1}" = "1" ]; then
    echo "[setup] rla_mm (editable)"
    "$PY" -m pip install "${PIP_FLAGS[@]}" --no-deps --no-build-isolation -e .
else
    echo "[setup] rla_mm (pip install ., resolving its requirements)"
    # The environment is consistent before rla_mm comes in. On a rerun, openmim
    # (installed below, --no-deps) is here already and lacks opendatalab and
    # colorama on purpose (requirements/mim.txt); MMPose lacks chumpy, which
    # none of its modules imports and which does not import here
    # (requirements/pose.txt): only those may be missing.
    if ! CHECK=$("$PY" -m pip check); then
        PROBLEMS=$(grep -v -E '^(openmim [^ ]+ requires (colorama|opendatalab)|mmpose [^ ]+ requires chumpy), which is not installed\.$' <<<"$CHECK" || true)
        if [ -n "$PROBLEMS" ]; then
            echo "$PROBLEMS" >&2
            exit 1
        fi
    fi
    "$PY" -m pip freeze --exclude rla_mm | sort > "$VENV/.freeze-before"
    "$PY" -m pip install "${PIP_FLAGS[@]}" --no-build-isolation .
    "$PY" -m pip freeze --exclude rla_mm | sort > "$VENV/.freeze-after"
    if ! diff -u "$VENV/.freeze-before" "$VENV/.freeze-after"; then
        echo "[setup] installing rla_mm changed the packages above" >&2
        exit 1
    fi
fi

# After rla_mm: openmim declares packages it never imports (requirements/mim.txt),
# which the user-env branch's `pip check` above would report.
echo "[setup] openmim (mim train / test / run / search)"
"$PY" -m pip install "${PIP_FLAGS[@]}" --no-deps -r requirements/mim.txt

STACK_REQS="$STACK_REQS" "$PY" - <<'PYEOF'
import importlib.metadata as md
import os
cv = [d.metadata['Name'] for d in md.distributions()
      if d.metadata['Name'].lower().startswith('opencv')]
assert len(cv) == 1, f'expected one OpenCV, found {cv}'
import torch, torchvision, mmcv, mmcv.ops, mmengine, mmdet, mmpretrain, rla_mm  # noqa
import mmseg, mmseg.models  # noqa  (ftfy and regex, which it does not declare)
pose = ''
if 'requirements/pose.txt' in os.environ['STACK_REQS'].split():
    import mmpose, mmpose.models, xtcocotools.coco  # noqa  (xtcocotools: numpy 1.x)
    pose = f', mmpose {mmpose.__version__}'
print(f'[setup] ok: torch {torch.__version__}, torchvision {torchvision.__version__}, '
      f'mmcv {mmcv.__version__}, mmengine {mmengine.__version__}, mmdet {mmdet.__version__}, '
      f'mmpretrain {mmpretrain.__version__}, mmseg {mmseg.__version__}{pose}, '
      f'rla_mm {rla_mm.__version__}')
PYEOF
