# Sourced by tools/dist_*.sh and tools/slurm_*.sh: choose the Python interpreter
# that runs train.py / test.py, and stop with a message that says what to do when
# it cannot run them. The first of these wins:
#   1. $PYTHON, when set (PYTHON=/path/to/python tools/dist_train.sh ...);
#   2. the activated virtualenv ($VIRTUAL_ENV/bin/python), e.g. after
#      `source .venv/bin/activate`;
#   3. this checkout's .venv/bin/python, made by `make setup`, so the scripts work
#      in a new shell without activation;
#   4. `python` on PATH (a conda environment, a system install).
# The checkout itself goes on PYTHONPATH, so rla_mm needs no install; torch,
# mmengine and mmcv must be importable by the chosen interpreter.

# rla_mm_python TOOLS_DIR: set RLA_MM_PYTHON, or print what to do and return 1.
rla_mm_python() {
    local tools_dir=$1 why
    if [ -n "${PYTHON:-}" ]; then
        RLA_MM_PYTHON=$PYTHON why='PYTHON is set'
    elif [ -n "${VIRTUAL_ENV:-}" ] && [ -x "$VIRTUAL_ENV/bin/python" ]; then
        RLA_MM_PYTHON=$VIRTUAL_ENV/bin/python why="the virtualenv $VIRTUAL_ENV is active"
    elif [ -x "$tools_dir/../.venv/bin/python" ]; then
        RLA_MM_PYTHON=$(cd "$tools_dir/.." && pwd)/.venv/bin/python
        why='it is the checkout'"'"'s .venv (make setup)'
    else
        RLA_MM_PYTHON=python why='it is first on PATH and there is no .venv'
    fi
    local problem='' missing
    if ! command -v "$RLA_MM_PYTHON" >/dev/null 2>&1; then
        problem='there is no such interpreter'
    elif ! missing=$("$RLA_MM_PYTHON" -c 'import importlib.util as u
print(" ".join(m for m in ("torch", "mmengine", "mmcv") if u.find_spec(m) is None))' 2>&1); then
        problem="it fails to start: $missing"
    elif [ -n "$missing" ]; then
        problem="it cannot import $missing"
    fi
    if [ -n "$problem" ]; then
        cat >&2 <<EOF
$(basename "$0"): cannot run with the Python '$RLA_MM_PYTHON'
(chosen because $why): $problem.
Do one of:
  * make setup                        (creates .venv/ with the pinned stack; the tools then use it)
  * source /path/to/env/bin/activate  (or conda activate ENV: your OpenMMLab environment with rla_mm installed)
  * PYTHON=/path/to/python $(basename "$0") ...
EOF
        return 1
    fi
}

# rla_mm_torchrun TOOLS_DIR NPROC SCRIPT [ARGS...]: run TOOLS_DIR/SCRIPT in NPROC
# processes per node through torchrun; multi-node from NNODES, NODE_RANK,
# MASTER_ADDR and PORT. Used by tools/dist_train.sh and tools/dist_test.sh.
rla_mm_torchrun() {
    local tools_dir=$1 nproc=$2 script=$3
    rla_mm_python "$tools_dir" || return 1
    PYTHONPATH="$tools_dir/..${PYTHONPATH:+:$PYTHONPATH}" \
    "$RLA_MM_PYTHON" -m torch.distributed.run \
        --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" \
        --master_addr="${MASTER_ADDR:-127.0.0.1}" \
        --nproc_per_node="$nproc" --master_port="${PORT:-29500}" \
        "$tools_dir/$script" "${@:4}"
}

# rla_mm_srun TOOLS_DIR PARTITION JOB_NAME SCRIPT [ARGS...]: run TOOLS_DIR/SCRIPT
# as a Slurm job, one task per GPU (GPUS, GPUS_PER_NODE, CPUS_PER_TASK,
# SRUN_ARGS). Used by tools/slurm_train.sh and tools/slurm_test.sh.
rla_mm_srun() {
    local tools_dir=$1 partition=$2 job_name=$3 script=$4
    rla_mm_python "$tools_dir" || return 1
    # SRUN_ARGS is split into words on purpose
    # shellcheck disable=SC2086
    PYTHONPATH="$tools_dir/..${PYTHONPATH:+:$PYTHONPATH}" \
    srun -p "$partition" --job-name="$job_name" \
        --gres=gpu:"${GPUS_PER_NODE:-8}" --ntasks="${GPUS:-8}" \
        --ntasks-per-node="${GPUS_PER_NODE:-8}" \
        --cpus-per-task="${CPUS_PER_TASK:-5}" --kill-on-bad-exit=1 ${SRUN_ARGS:-} \
        "$RLA_MM_PYTHON" -u "$tools_dir/$script" "${@:5}"
}
