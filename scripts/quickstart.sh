#!/usr/bin/env bash
# The main job: sets up and builds, then runs a small study (an FCN on a Fashion-MNIST subset,
# unguided, guided by an untrained CNN and by a trained one, three seeds each, two runs at a time)
# and prints its summary: mean ± std per cell and the difference to the unguided cell with its
# 95 % confidence interval.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh guidance guidance-plugins   # the program and its plugins; tests build in scripts/test.sh
build/bin/guidance run configs/quickstart.toml --restart --jobs 2 "$@"
exec build/bin/guidance summarize results/quickstart
