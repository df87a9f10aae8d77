#!/usr/bin/env bash
# Usage: bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py args]
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR, PORT. Without CUDA, GPUS CPU processes on gloo.
set -euo pipefail
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
here="$(cd "$(dirname "$0")" && pwd)"
PYTHON=${PYTHON:-$( [ -x "$here/../.venv/bin/python" ] && echo "$here/../.venv/bin/python" || echo python)}

# The port: one node and no PORT -> a free one. Otherwise PORT (default 29500, which all nodes
# must agree on); on the master node, stop before torchrun if it is taken.
bind='import socket, sys; s = socket.socket(); s.bind((sys.argv[1], int(sys.argv[2])))'
if [ -z "${PORT:-}" ] && [ "$NNODES" = 1 ]; then
    PORT=$("$PYTHON" -c "$bind; print(s.getsockname()[1])" "$MASTER_ADDR" 0)
elif [ "$NODE_RANK" = 0 ] && ! "$PYTHON" -c "$bind" '' "${PORT:=29500}" 2>/dev/null; then
    echo "error: port $PORT is in use on this machine (or is not a port number), so torchrun" \
        "cannot listen on it. Set PORT=... to a free port (the same on every node)." >&2
    exit 1
fi
PORT=${PORT:-29500}

OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} "$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" --master_port="$PORT" \
    "$here/test.py" "$CONFIG" "$CHECKPOINT" --launcher pytorch "${@:4}"
