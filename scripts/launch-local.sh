#!/usr/bin/env bash
# Starts N local processes of one distributed run with the variables torchrun sets (WORLD_SIZE,
# RANK, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT), for trying data parallelism on one
# machine (docs/distributed.md):
#   scripts/launch-local.sh N CONFIG [guidance run options, e.g. --resume]
# MASTER_ADDR defaults to 127.0.0.1, MASTER_PORT to a free port; $GUIDANCE names the binary
# (default build/bin/guidance). Ctrl-C reaches every rank (they stop at the same step and rank 0
# saves a checkpoint). Exits with the first non-zero exit code of the ranks, else 0.
set -uo pipefail
if [[ $# -lt 2 || ! $1 =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 N CONFIG [guidance run options...]   (N: number of processes, at least 1)" >&2
  exit 2
fi
count=$1
config=$2
shift 2
binary=${GUIDANCE:-$(dirname "$0")/../build/bin/guidance}
address=${MASTER_ADDR:-127.0.0.1}
port=${MASTER_PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}

pids=()
for ((rank = 0; rank < count; rank++)); do
  WORLD_SIZE=$count RANK=$rank LOCAL_RANK=$rank LOCAL_WORLD_SIZE=$count MASTER_ADDR=$address \
    MASTER_PORT=$port "$binary" run "$config" "$@" &
  pids+=($!)
done
# Background processes of a script ignore SIGINT: pass it on.
trap 'kill -INT "${pids[@]}" 2>/dev/null' INT
trap 'kill -TERM "${pids[@]}" 2>/dev/null' TERM

status=0
for pid in "${pids[@]}"; do
  while true; do
    wait "$pid"
    code=$?
    kill -0 "$pid" 2>/dev/null || break  # wait returned early for a trapped signal
  done
  if [[ $status -eq 0 && $code -ne 0 ]]; then status=$code; fi
done
exit "$status"
