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
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
DIR=$(cd "$(dirname "$0")" && pwd)
source "$DIR/python_env.sh"
rla_mm_python "$DIR" || exit 1

PYTHONPATH="$DIR/..${PYTHONPATH:+:$PYTHONPATH}" \
"$RLA_MM_PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" --master_port="$PORT" \
    "$DIR/train.py" "$CONFIG" --launcher pytorch "${@:3}"
