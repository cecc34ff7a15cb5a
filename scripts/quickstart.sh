#!/usr/bin/env bash
# The main job: sets up and builds, then trains a fully connected net on a Fashion-MNIST subset
# twice, unguided and guided by an untrained CNN, and prints their accuracies side by side.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec build/bin/guidance run configs/quickstart.toml --restart "$@"
