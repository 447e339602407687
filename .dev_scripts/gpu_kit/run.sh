#!/usr/bin/env bash
# rla_mm's checks on a CUDA machine with no network and no OpenMMLab stack, from the
# kit that `make gpu-kit` writes (gpu_kit/ at the repository root). See docs/gpu.md.
#
# Level 1 (no compilation): installs the kit's wheels (mmcv-lite: no compiled ops)
#   into a temporary folder, then runs
#   * gpu_check.py --checks backbones: every RLA backbone of
#     rla_mm/testing/backbone_cases.py forward and backward in fp32, autocast fp16 and
#     bf16, and channels_last, against its plain twin;
#   * benchmark.py --cases cls --batch 64: RLA-ResNet-50 against MMPretrain's
#     ResNet-50 at 224x224, inference and train step interleaved, ratios and peak
#     memory; then the same with --compile if time is left.
# Level 2 (only if time is left): mmcv 2.1.0 with CUDA ops is built from the kit's
#   sdist (sm_90, MAX_JOBS=16) in the background from the start, niced, and timed;
#   if it is done in time: an mmcv.ops check, gpu_check.py --checks train syncbn,
#   benchmark.py --cases det, and MMDetection's inference benchmark.
#
# Every step runs under a deadline (--budget seconds from the start, default 450):
# a step that would not fit is skipped and recorded, the build is stopped and its
# progress recorded. Figures and logs go to $OUT as they come (at most 4 files):
#   summary.md      every figure and table, step by step
#   steps.tsv       step, status (ok / FAILED rc / skipped), seconds
#   run.log         everything printed
#   mmcv_build.log  the mmcv build's own output (level 2)
# Exit status: 0 when every level 1 step passed, else 1.
#
# Usage:
#   bash .dev_scripts/gpu_kit/run.sh [--level 1|2] [--budget SECONDS] [--cpu]
#   bash .dev_scripts/gpu_kit/run.sh --tree-hash   # hash of the rla_mm/ sources
# Environment: OUT (default gpu_kit_out/), KIT (default gpu_kit/; both relative to
#   the repository root or absolute), PYTHON
#   (default python3). --cpu: level 1 on the CPU with small sizes and only the
#   pure-Python wheels, to test this script on a machine without CUDA.
set -u
cd "$(dirname "$0")/../.."
REPO=$(pwd)

tree_hash() {
    find rla_mm -name '*.py' -type f | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-16
}

LEVEL=2
BUDGET=450
CPU=0
while [ $# -gt 0 ]; do
    case "$1" in
        --tree-hash) tree_hash; exit 0 ;;
        --level) LEVEL=${2:-}; shift 2 ;;
        --budget) BUDGET=${2:-}; shift 2 ;;
        --cpu) CPU=1; shift ;;
        *) echo "run.sh: unknown argument '$1' (expected --level 1|2, --budget SECONDS, --cpu or --tree-hash)" >&2; exit 2 ;;
    esac
done
case "$LEVEL" in 1|2) ;; *) echo "run.sh: --level must be 1 or 2, got '$LEVEL'" >&2; exit 2 ;; esac
case "$BUDGET" in ''|*[!0-9]*) echo "run.sh: --budget must be a whole number of seconds, got '$BUDGET'" >&2; exit 2 ;; esac

PYTHON=${PYTHON:-python3}
KIT=${KIT:-gpu_kit}
OUT=${OUT:-$REPO/gpu_kit_out}
[ -f "$KIT/manifest.json" ] || { echo "run.sh: no kit at '$KIT' (no manifest.json); run 'make gpu-kit' first" >&2; exit 2; }
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/rla_mm_kit.XXXXXX")
SITE=$WORK/site
SUMMARY=$OUT/summary.md
STEPS=$OUT/steps.tsv
: >"$SUMMARY"
printf 'step\tstatus\tseconds\n' >"$STEPS"
exec > >(tee -a "$OUT/run.log") 2>&1
export PYTHONUNBUFFERED=1

START=$(date +%s)
DEADLINE=$((START + BUDGET))
FAILED=0
left() { echo $((DEADLINE - $(date +%s))); }
say() { echo "$*" >>"$SUMMARY"; echo "[kit $(($(date +%s) - START)) s] $*"; }

# step NAME MIN_SECONDS LEVEL1(0|1) COMMAND...: run COMMAND under what is left of
# the budget, appending its output to the summary; a failure is recorded, never fatal.
step() {
    local name=$1 need=$2 counts=$3 rc t0 t1 status
    shift 3
    if [ "$(left)" -lt "$need" ]; then
        printf '%s\tskipped (%s s left, needs %s)\t0\n' "$name" "$(left)" "$need" >>"$STEPS"
        say "- $name: skipped, $(left) s left of the budget, it needs about $need s"
        [ "$counts" = 1 ] && FAILED=1
        return 0
    fi
    say "" && say "## $name" && say ""
    t0=$(date +%s)
    timeout -k 10 $(($(left) - 5)) "$@" >"$WORK/step.out" 2>&1
    rc=$?
    t1=$(date +%s)
    cat "$WORK/step.out"
    grep -E '^(\||\[ok\]|\[FAILED\]|gpu_check:|Machine:)|fps:' "$WORK/step.out" >>"$SUMMARY"
    if [ $rc -eq 0 ]; then status=ok; else status="FAILED rc=$rc"; [ "$counts" = 1 ] && FAILED=1; fi
    [ $rc -eq 124 ] && status="$status (stopped at the budget)"
    printf '%s\t%s\t%s\n' "$name" "$status" $((t1 - t0)) >>"$STEPS"
    say "" && say "$name: $status in $((t1 - t0)) s"
}

say "# rla_mm device kit, level $LEVEL$([ $CPU = 1 ] && echo ', CPU mode')"
say ""
say "Budget $BUDGET s; started $(date -u +%FT%TZ); kit commit $("$PYTHON" -c "import json; print(json.load(open('$KIT/manifest.json'))['commit'][:12])")."
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"; } | sed 's/^/GPU: /' >>"$SUMMARY"

# ---- install (both levels) ---------------------------------------------------
# pycocotools waits for level 2 (MMDetection's COCO metric): with it and the
# device's transformers 5.x, MMPretrain 1.2 imports its multimodal models
# (mmpretrain.utils.dependency.WITH_MULTIMODAL), written for transformers 4.
if [ $CPU = 1 ]; then
    WHEELS=$(ls "$KIT"/wheels/*-none-any.whl | grep -v /pycocotools-)
else
    WHEELS=$(ls "$KIT"/wheels/*.whl | grep -v /pycocotools-)
fi
t0=$(date +%s)
# shellcheck disable=SC2086
if ! "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
        --disable-pip-version-check --target "$SITE" $WHEELS; then
    say "install: FAILED (pip install --no-index --no-deps --target of the kit's wheels)"
    printf 'install\tFAILED\t%s\n' $(($(date +%s) - t0)) >>"$STEPS"
    exit 1
fi
printf 'install\tok\t%s\n' $(($(date +%s) - t0)) >>"$STEPS"
export PYTHONPATH=$SITE
KIT_HASH=$("$PYTHON" -c "import json; print(json.load(open('$KIT/manifest.json'))['rla_mm_tree_hash'])")
if [ "$KIT_HASH" = "$(tree_hash)" ]; then
    say "rla_mm: the kit's wheel (built from these rla_mm/ sources, hash $KIT_HASH)."
else
    export PYTHONPATH=$REPO:$SITE
    say "rla_mm: the kit's wheel is from other sources (hash $KIT_HASH, tree $(tree_hash)): using the tree's rla_mm/ (run make gpu-kit to refresh the kit)."
fi
# (from $WORK: Python puts the working folder first on sys.path for stdin)
(cd "$WORK" && "$PYTHON" - >>"$SUMMARY") <<'EOF'
import importlib, sys
import torch
print(f'Python {sys.version.split()[0]}, torch {torch.__version__}, CUDA {torch.version.cuda}, '
      f'cuda available {torch.cuda.is_available()}, '
      f'arch list {" ".join(torch._C._cuda_getArchFlags().split()) if torch.cuda.is_available() else "-"}')
for name in ('mmengine', 'mmcv', 'mmpretrain', 'rla_mm'):
    mod = importlib.import_module(name)
    print(f'{name} {mod.__version__} from {mod.__file__.rsplit("/", 2)[0]}')
EOF
tail -n 5 "$SUMMARY"

# ---- level 2's build, in the background from the start -------------------------
L2_RESERVE=${L2_RESERVE:-150}   # seconds level 2's runs need after the build
BUILD_PID=
if [ $LEVEL = 2 ] && [ $CPU = 0 ]; then
    if ! command -v nvcc >/dev/null; then
        say "level 2: no nvcc on PATH; mmcv's ops are not built"
    else
        say "level 2: building mmcv $("$PYTHON" -c "import json; print(json.load(open('$KIT/manifest.json'))['mmcv'])") ops for sm_90 in the background (MAX_JOBS=16, nice 19), until $((BUDGET - L2_RESERVE)) s into the budget."
        BUILD_S=$((DEADLINE - L2_RESERVE - $(date +%s)))
        [ "$BUILD_S" -lt 60 ] && BUILD_S=1  # (timeout 0 would mean no limit)
        (
            "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --target "$WORK/build_site" "$KIT"/build/*.whl
            tar -xzf "$KIT"/sdist/mmcv-*.tar.gz -C "$WORK"
            SRC=$(ls -d "$WORK"/mmcv-*/)
            # torch >= 2.10 headers require C++20 (as .dev_scripts / tools/setup/build_mmcv.sh patch it).
            sed -i "s/-std=c++17/-std=c++20/g; s/'-std=c++14'/'-std=c++20'/g" "$SRC/setup.py"
            b0=$(date +%s)
            PYTHONPATH=$WORK/build_site MMCV_WITH_OPS=1 FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST=9.0 MAX_JOBS=16 \
                nice -n 19 timeout -k 10 "$BUILD_S" \
                "$PYTHON" -m pip wheel --no-deps --no-build-isolation --no-index -w "$WORK/dist" "$SRC" \
                >"$OUT/mmcv_build.log" 2>&1
            echo "$? $(($(date +%s) - b0))" >"$WORK/build.status"
        ) &
        BUILD_PID=$!
    fi
fi

# ---- level 1 ------------------------------------------------------------------
if [ $CPU = 1 ]; then
    DEV=cpu
    CHECK_ARGS=(--backbones RLAPreActResNet --side 16)
    BENCH_ARGS=(--cases cls --depth 18 --batch 2 --repeats 1 --warmup 0 --threads 1)
else
    DEV=cuda
    CHECK_ARGS=()
    BENCH_ARGS=(--cases cls --batch 64 --repeats 10 --warmup 3)
fi
step "level 1: backbones fp32 / fp16 / bf16 / channels_last ($DEV)" 30 1 \
    "$PYTHON" tools/analysis_tools/gpu_check.py --device $DEV --checks backbones "${CHECK_ARGS[@]}"
step "level 1: RLA-ResNet / ResNet, eager ($DEV)" 30 1 \
    "$PYTHON" tools/analysis_tools/benchmark.py --device $DEV "${BENCH_ARGS[@]}"
if [ $CPU = 1 ]; then
    say "- level 1: torch.compile'd benchmark: not run in CPU mode"
else
    step "level 1: RLA-ResNet-50 / ResNet-50, torch.compile'd" 150 0 \
        "$PYTHON" tools/analysis_tools/benchmark.py --device cuda --compile "${BENCH_ARGS[@]}"
fi

# ---- level 2 ------------------------------------------------------------------
if [ -n "$BUILD_PID" ]; then
    wait "$BUILD_PID"
    read -r BRC BSEC <"$WORK/build.status"
    PROGRESS=$(grep -oE '^\[[0-9]+/[0-9]+\]' "$OUT/mmcv_build.log" | tail -n 1)
    if [ "$BRC" = 0 ] && ls "$WORK"/dist/mmcv-*.whl >/dev/null 2>&1; then
        printf 'level 2: mmcv build\tok\t%s\n' "$BSEC" >>"$STEPS"
        say "level 2: mmcv built in $BSEC s ($(basename "$(ls "$WORK"/dist/mmcv-*.whl)"), ninja ${PROGRESS:-?})"
        "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --target "$WORK/ops_site" "$WORK"/dist/mmcv-*.whl
        "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --target "$WORK/ops_site" "$KIT"/wheels/pycocotools-*.whl
        export PYTHONPATH=$WORK/ops_site:$PYTHONPATH
        step "level 2: mmcv.ops.nms on cuda" 10 0 "$PYTHON" -c "
import torch, mmcv.ops
boxes = torch.tensor([[0., 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]], device='cuda')
keep = mmcv.ops.nms(boxes, torch.tensor([0.9, 0.8, 0.7], device='cuda'), 0.5)[1]
assert keep.tolist() == [0, 2], keep
print('| mmcv.ops.nms | ok on', torch.cuda.get_device_name(), '|')"
        step "level 2: --amp detector iterations and SyncBN" 60 0 \
            "$PYTHON" tools/analysis_tools/gpu_check.py --checks train syncbn --work-dir "$WORK/det"
        step "level 2: detection backbones RLA-ResNet-50 / ResNet-50" 30 0 \
            "$PYTHON" tools/analysis_tools/benchmark.py --device cuda --cases det --repeats 10 --warmup 3
        CKPT=$(cat "$WORK/det/faster_rcnn_rla_r50_fpn_1x_coco.py/last_checkpoint" 2>/dev/null)
        if [ -n "$CKPT" ]; then
            mapfile -t DET_OPTS < <("$PYTHON" -c "
from rla_mm.testing.gpu_checks import detector_options
print('\n'.join(detector_options('tools', '$WORK/det')))")
            step "level 2: MMDetection inference benchmark, Faster R-CNN RLA-R50 (digits val)" 30 0 \
                "$PYTHON" "$SITE/mmdet/.mim/tools/analysis_tools/benchmark.py" \
                configs/faster_rcnn_rla_r50_fpn_1x_coco.py --checkpoint "$CKPT" --task inference \
                --max-iter 4 --num-warmup 1 --log-interval 1 --cfg-options "${DET_OPTS[@]}"
        else
            say "- level 2: MMDetection's benchmark: no checkpoint from the training check"
        fi
    else
        printf 'level 2: mmcv build\tstopped rc=%s\t%s\n' "$BRC" "$BSEC" >>"$STEPS"
        say "level 2: mmcv build not done (rc $BRC after $BSEC s; ninja at ${PROGRESS:-no step yet}; see mmcv_build.log); level 2's runs skipped"
    fi
fi

say ""
say "Done in $(($(date +%s) - START)) s of $BUDGET s; level 1 $([ $FAILED = 0 ] && echo passed || echo FAILED)."
rm -rf "$WORK"
exit $FAILED
