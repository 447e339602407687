#!/usr/bin/env bash
# Distributed training through torchrun and MMEngine's launcher.
#   tools/dist_train.sh CONFIG GPUS [train.py args]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR (and PORT) on every node.
# Without GPUs, GPUS processes train on the CPU with the gloo backend.
# Python: $PYTHON, else the active virtualenv, else .venv/ (make setup), else
# `python` on PATH (see tools/python_env.sh).
set -euo pipefail
CONFIG=${1:?usage: dist_train.sh CONFIG GPUS [args]}
GPUS=${2:?usage: dist_train.sh CONFIG GPUS [args]}
DIR=$(cd "$(dirname "$0")" && pwd)
source "$DIR/python_env.sh"
rla_mm_torchrun "$DIR" "$GPUS" train.py "$CONFIG" --launcher pytorch "${@:3}"
