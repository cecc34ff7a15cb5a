#!/usr/bin/env bash
# Regenerates docs/images/report-run.png, report-heatmap.png and report-directory.png: the
# quickstart study shortened to one seed, a 2 560-image subset and 30 steps (3 runs, about 30 s on
# 2 cores), its `analyze report`, and screenshots in headless Chromium of a guided run's report
# (its top, and one heatmap at full size) and of the directory report.
# Needs a build (bash scripts/setup.sh) and Debian's chromium.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A copy of configs/quickstart.toml with `KEY = ...` lines replaced; a key that is not there stops
# the script, so the copy never silently keeps the long settings.
config="$work/quickstart.toml"
cp configs/quickstart.toml "$config"
set_key() {
  grep -q "^$1 = " "$config" || { echo "report-screenshots: no '$1 = ' line in the config" >&2; exit 1; }
  sed -i "s|^$1 = .*|$1 = $2|" "$config"
}
set_key output "\"$work/results\""
set_key train_subset 2560
set_key validation_size 1000
set_key epochs 3
set_key every 10
set_key '"run.seed"' '[0]'

guidance="$PWD/build/bin/guidance"
"$guidance" run "$config" --jobs 2 --quiet
# From the work folder, so the report's title names results/quickstart, not a temporary path.
(cd "$work" && "$guidance" analyze report results/quickstart --out report)

shoot() {  # shoot FILE WIDTH,HEIGHT PNG
  chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$work/profile" \
    --window-size="$2" --screenshot="$3" "file://$1" 2>/dev/null
  echo "wrote $3"
}
mkdir -p docs/images
run="$work/report/seed=0,enabled=true,init=trained"
shoot "$run/index.html" 1280,1400 docs/images/report-run.png
# One guide × target heatmap at its full size: the picture its thumbnail in the report links to.
heatmap="$run/similarity-linear-cka-guide_target-step30.svg"
read -r width height < <(sed -n 's/^<svg [^>]* width="\([0-9]*\)[.0-9]*" height="\([0-9]*\)[.0-9]*".*/\1 \2/p' "$heatmap")
shoot "$heatmap" "$((width + 1)),$((height + 1))" docs/images/report-heatmap.png
shoot "$work/report/index.html" 1280,1800 docs/images/report-directory.png
