#!/usr/bin/env bash
# Training on a Slurm cluster (one task per GPU).
#   [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS=...] \
#   tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py args]
# Python: $PYTHON, else the active virtualenv, else .venv/ (make setup), else
# `python` on PATH (see tools/python_env.sh).
set -euo pipefail
PARTITION=${1:?usage: slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [args]}
JOB_NAME=${2:?missing JOB_NAME}
CONFIG=${3:?missing CONFIG}
WORK_DIR=${4:?missing WORK_DIR}
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
DIR=$(cd "$(dirname "$0")" && pwd)
source "$DIR/python_env.sh"
rla_mm_python "$DIR" || exit 1

PYTHONPATH="$DIR/..${PYTHONPATH:+:$PYTHONPATH}" \
srun -p "$PARTITION" --job-name="$JOB_NAME" --gres=gpu:"$GPUS_PER_NODE" \
    --ntasks="$GPUS" --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" --kill-on-bad-exit=1 $SRUN_ARGS \
    "$RLA_MM_PYTHON" -u "$DIR/train.py" "$CONFIG" --work-dir="$WORK_DIR" \
    --launcher slurm "${@:5}"
