#!/usr/bin/env bash
# Regenerates the report screenshots of docs/analysis.md and docs/studies-analysis.md in headless
# Chromium, 1400 px wide:
#   quickstart  report-run.png, report-heatmap.png, report-directory.png: the quickstart study
#               shortened to one seed, a 2 560-image subset and 30 steps (3 runs, about 30 s on
#               2 cores), a guided run's report (its top, and one heatmap at full size) and the
#               directory report;
#   study       report-study.png, report-study-curves.png, atlas.png: the 7-cell × 3-seed
#               prior atlas of configs/prior-atlas.toml (21 runs, 2 min 29 s on an idle 2-core
#               machine), its directory report (the top, and its curves) and `summarize --rows
#               guide.plugin --cols target.plugin`'s atlas at full size; that summarize prints
#               what a 120-column terminal shows.
#   scripts/report-screenshots.sh [quickstart|study]...   (default: both)
# Needs a build (bash scripts/setup.sh), Debian's chromium and, for the study's TorchScript
# guide, Debian's python3-torch (/usr/bin/python3).
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
guidance="$PWD/build/bin/guidance"
mkdir -p docs/images

shoot() {  # shoot FILE WIDTH,HEIGHT PNG
  chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$work/profile" \
    --window-size="$2" --screenshot="$3" "file://$1" 2>/dev/null
  echo "wrote $3"
}

shoot_svg() {  # shoot_svg SVG PNG: the picture at its own size
  local width height
  read -r width height < <(sed -n 's/^<svg [^>]* width="\([0-9]*\)[.0-9]*" height="\([0-9]*\)[.0-9]*".*/\1 \2/p' "$1")
  shoot "$1" "$((width + 1)),$((height + 1))" "$2"
}

# A copy of CONFIG in the work folder with `KEY = ...` lines replaced; a key that is not there
# stops the script, so the copy never silently keeps the long settings.
set_key() {  # set_key CONFIG KEY VALUE
  grep -q "^$2 = " "$1" || { echo "report-screenshots: no '$2 = ' line in $1" >&2; exit 1; }
  sed -i "s|^$2 = .*|$2 = $3|" "$1"
}

quickstart() {
  local config="$work/quickstart.toml"
  cp configs/quickstart.toml "$config"
  set_key "$config" output "\"$work/results\""
  set_key "$config" train_subset 2560
  set_key "$config" validation_size 1000
  set_key "$config" epochs 3
  set_key "$config" every 10
  set_key "$config" '"run.seed"' '[0]'
  "$guidance" run "$config" --jobs 2 --quiet
  # From the work folder, so the report's title names results/quickstart, not a temporary path.
  (cd "$work" && "$guidance" analyze report results/quickstart --out report)
  local run="$work/report/seed=0,enabled=true,init=trained"
  shoot "$run/index.html" 1400,1400 docs/images/report-run.png
  # One guide × target heatmap at its full size: the picture its thumbnail in the report links to.
  shoot_svg "$run/similarity-linear-cka-guide_target-step30.svg" docs/images/report-heatmap.png
  shoot "$work/report/index.html" 1400,1800 docs/images/report-directory.png
}

study() {
  # Run in the work folder as from the repository root: the config's output ("../results",
  # relative to its folder) and its TorchScript guide (results/torchscript/cnn.pt, relative to the
  # folder guidance runs in) land there.
  mkdir -p "$work/configs" "$work/results/torchscript"
  cp configs/prior-atlas.toml "$work/configs/"
  /usr/bin/python3 tests/plugins/architecture/make_torchscript.py "$work/results/torchscript" \
    > /dev/null
  (cd "$work" && "$guidance" run configs/prior-atlas.toml --jobs 2 --quiet)
  # Printed as a 120-column terminal shows it (docs/studies-analysis.md quotes it).
  (cd "$work" && COLUMNS=120 "$guidance" summarize results/prior-atlas --rows guide.plugin \
    --cols target.plugin)
  shoot_svg "$work/results/prior-atlas/atlas.svg" docs/images/atlas.png
  (cd "$work" && "$guidance" analyze report results/prior-atlas --out report-study)
  shoot "$work/report-study/index.html" 1400,2400 docs/images/report-study.png
  # The curves: a copy of the page without what comes before them.
  sed '/<h2>Final measures<\/h2>/,/<h2>Curves<\/h2>/{/<h2>Curves<\/h2>/!d}' \
    "$work/report-study/index.html" > "$work/report-study/curves.html"
  shoot "$work/report-study/curves.html" 1400,1000 docs/images/report-study-curves.png
}

parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(quickstart study)
for part in "${parts[@]}"; do
  case "$part" in
    quickstart | study) "$part" ;;
    *) echo "report-screenshots: unknown part '$part' (quickstart, study)" >&2; exit 2 ;;
  esac
done
