#!/usr/bin/env bash
# The main job: sets up and builds, then runs a small study (an FCN on a Fashion-MNIST subset,
# unguided, guided by an untrained CNN and by a trained one, three seeds each, two runs at a time)
# and prints its summary: mean ± std per cell and the difference to the unguided cell with its
# 95 % confidence interval.
set -euo pipefail
cd "$(dirname "$0")/.."
# The program, then only the plugins the study's config names (`guidance plugins needed`); the
# other plugins and the tests build in scripts/test.sh.
bash scripts/setup.sh guidance
mapfile -t plugins < <(build/bin/guidance plugins needed configs/quickstart.toml)
bash scripts/setup.sh "${plugins[@]/#/guidance-plugin-}"
build/bin/guidance run configs/quickstart.toml --restart --jobs 2 "$@"
exec build/bin/guidance summarize results/quickstart
