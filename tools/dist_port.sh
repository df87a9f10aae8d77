# Sourced by dist_train.sh and dist_test.sh (needs PYTHON, NNODES, NODE_RANK, MASTER_ADDR).
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
