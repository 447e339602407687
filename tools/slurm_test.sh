#!/usr/bin/env bash
# Evaluation on a Slurm cluster (one task per GPU).
#   [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS=...] \
#   tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py args]
# Python: $PYTHON, else the active virtualenv, else .venv/ (make setup), else
# `python` on PATH (see tools/python_env.sh).
set -euo pipefail
PARTITION=${1:?usage: slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [args]}
JOB_NAME=${2:?missing JOB_NAME}
CONFIG=${3:?missing CONFIG}
CHECKPOINT=${4:?missing CHECKPOINT}
DIR=$(cd "$(dirname "$0")" && pwd)
source "$DIR/python_env.sh"
rla_mm_srun "$DIR" "$PARTITION" "$JOB_NAME" test.py "$CONFIG" "$CHECKPOINT" \
    --launcher slurm "${@:5}"
