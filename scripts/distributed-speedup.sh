#!/usr/bin/env bash
# Measures the speed-up of a 2-process data-parallel run over one process on this machine
# (docs/distributed.md): the quickstart's guided pair (6-layer FCN, untrained CNN guide, linear CKA,
# global batch 256) trained for SHORT and LONG steps; the difference of the two wall times is the
# time of LONG - SHORT steps without start-up, data loading and the final evaluations. Compares
# 1 process x 1 thread, 2 processes x 1 thread (scripts/launch-local.sh) and 1 process x 2 threads.
#   scripts/distributed-speedup.sh [SHORT [LONG]]   (default 10 40)
#   GUIDED=false scripts/distributed-speedup.sh     (the same FCN unguided, for contrast)
set -euo pipefail
cd "$(dirname "$0")/.."
short=${1:-10}
long=${2:-40}
guided=${GUIDED:-true}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

config() {  # config STEPS THREADS NAME
  cat <<TOML
[run]
name = "$3"
threads = $2
output = "$work/out"
checkpoint_every = 0
log_every = 1000000

[dataset]
plugin = "fashion-mnist"
train_subset = 10000
validation_size = 500

[target]
plugin = "mlp"
depth = 6
width = 256

[guide]
plugin = "convnet"
channels = [16, 32, 64]

[guide.init]
plugin = "untrained"

[guidance]
enabled = $guided

[guidance.metric]
plugin = "linear-cka"

[train]
batch_size = 256
max_steps = $1
eval_batch_size = 500
train_eval_size = 0

[record]
every = 0
at_end = false
TOML
}

seconds() {  # seconds PROCESSES THREADS STEPS: wall time of one run
  local name="p$1-t$2-s$3"
  config "$3" "$2" "$name" > "$work/$name.toml"
  local start end
  start=$(date +%s.%N)
  if [[ $1 -eq 1 ]]; then
    build/bin/guidance run --quiet "$work/$name.toml" > /dev/null
  else
    scripts/launch-local.sh "$1" "$work/$name.toml" --quiet > /dev/null
  fi
  end=$(date +%s.%N)
  awk -v a="$start" -v b="$end" 'BEGIN { print b - a }'
}

printf '%-22s %12s %10s\n' "layout" "s per step" "speed-up"
base=""
for layout in "1 1" "2 1" "1 2"; do
  read -r processes threads <<< "$layout"
  t_short=$(seconds "$processes" "$threads" "$short")
  t_long=$(seconds "$processes" "$threads" "$long")
  per_step=$(awk -v a="$t_short" -v b="$t_long" -v n=$((long - short)) 'BEGIN { print (b - a) / n }')
  [[ -z $base ]] && base=$per_step
  printf '%-22s %12.4f %10.2f\n' "$processes process x $threads thread" "$per_step" \
    "$(awk -v a="$base" -v b="$per_step" 'BEGIN { print a / b }')"
done
