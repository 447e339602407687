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
DIR=$(cd "$(dirname "$0")" && pwd)
source "$DIR/python_env.sh"
rla_mm_srun "$DIR" "$PARTITION" "$JOB_NAME" train.py "$CONFIG" \
    --work-dir="$WORK_DIR" --launcher slurm "${@:5}"
