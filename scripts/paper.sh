#!/usr/bin/env bash
# Regenerates results/paper/: runs every study of configs/paper/ (two runs at a time; done runs
# are skipped and interrupted ones resumed, so after a stop it continues where it was), then
# summarises each study, draws its pictures and writes results/paper/README.md.
#   bash scripts/paper.sh                 # every study (hours on 2 cores)
#   bash scripts/paper.sh f4-copy-paste   # only the studies named
# Records go to results/paper-runs/ (not committed); each study's wall time, measured here, to
# results/paper/times/<study>.txt (a study resumed after a stop adds its time so far; a leg killed
# outright, as when a machine stops, is counted up to the last file it wrote in the records).
# The studies run a copy of the built program and its plugins, taken when this script starts, so
# rebuilding the tree meanwhile changes nothing under a running study.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${GUIDANCE_PAPER_SKIP_SETUP:-0}" != 1 ]]; then
  bash scripts/setup.sh
fi
studies=("$@")
if [[ ${#studies[@]} -eq 0 ]]; then
  for config in configs/paper/*.toml; do studies+=("$(basename "$config" .toml)"); done
fi
for study in "${studies[@]}"; do
  [[ -f "configs/paper/$study.toml" ]] || { echo "paper.sh: no study configs/paper/$study.toml" >&2; exit 2; }
done
# The program finds its plugins beside it (../lib/guidance/plugins), so the copy keeps that layout.
program=$(mktemp -d "${TMPDIR:-/tmp}/guidance-paper.XXXXXX")
trap 'rm -rf "$program"' EXIT
mkdir -p "$program/bin" "$program/lib/guidance"
cp build/bin/guidance "$program/bin/"
cp -r build/lib/guidance/plugins "$program/lib/guidance/"
cli="$program/bin/guidance"
mkdir -p results/paper/times
# add_time FILE SECONDS: adds SECONDS to the study time FILE holds (0 when it does not exist yet).
add_time() {
  mkdir -p "$(dirname "$1")"   # the page's folder may have been cleaned meanwhile
  echo $(( $(cat "$1" 2>/dev/null || echo 0) + $2 )) > "$1"
}
for study in "${studies[@]}"; do
  config="configs/paper/$study.toml"
  time_file="results/paper/times/$study.txt"
  leg_file="results/paper/times/$study.running"   # when the leg now running began
  if [[ -f "$leg_file" ]]; then
    # The last leg was killed before it could write its time: count it to its last write.
    began=$(cat "$leg_file")
    last=$(find "results/paper-runs/$study" -type f -printf '%T@\n' 2>/dev/null | sort -n |
           tail -1 | cut -d. -f1)
    if [[ -n "$last" && "$last" -gt "$began" ]]; then add_time "$time_file" $(( last - began )); fi
    rm -f "$leg_file"
  fi
  pending=$("$cli" run "$config" --dry-run | tail -1)
  echo "== $study: $pending"
  if [[ "$pending" != *" 0 partial, 0 new" ]]; then
    began=$(date +%s)
    echo "$began" > "$leg_file"
    status=0
    "$cli" run "$config" --jobs 2 --quiet || status=$?
    # Kept when the study stops part-way too (Ctrl-C), so a resumed study's time is its whole time.
    add_time "$time_file" $(( $(date +%s) - began ))
    rm -f "$leg_file"
    [[ $status -eq 0 ]] || exit $status
  fi
done
/usr/bin/python3 scripts/paper-page.py --cli "$cli"
