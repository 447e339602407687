#!/usr/bin/env bash
# Distributed evaluation through torchrun and MMEngine's launcher.
#   tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py args]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR (and PORT) on every node.
# Python: $PYTHON, else the active virtualenv, else .venv/ (make setup), else
# `python` on PATH (see tools/python_env.sh).
set -euo pipefail
CONFIG=${1:?usage: dist_test.sh CONFIG CHECKPOINT GPUS [args]}
CHECKPOINT=${2:?usage: dist_test.sh CONFIG CHECKPOINT GPUS [args]}
GPUS=${3:?usage: dist_test.sh CONFIG CHECKPOINT GPUS [args]}
DIR=$(cd "$(dirname "$0")" && pwd)
source "$DIR/python_env.sh"
rla_mm_torchrun "$DIR" "$GPUS" test.py "$CONFIG" "$CHECKPOINT" --launcher pytorch \
    "${@:4}"
