#!/usr/bin/python3
"""How a guided step's time and memory grow: the vision bench pair under three sweeps.

    scripts/bench-scaling.py [--steps 4] [--warmup 2] [--threads 2]

Each row is one `guidance bench` of a variant of configs/bench/vision.toml, written to a
temporary folder: the batch size (64 to 1024), the number of mapped pairs (1 to 5, the first
pairs of the bench's map) and the target's width (the tap width of the target side; 256 to
4096). Prints markdown tables: seconds per step, its guide forward and distance shares, the
counted GFLOP per step and the peak resident memory. Several minutes on 2 cores.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASE = os.path.join(ROOT, "configs/bench/vision.toml")
PAIRS = [["block1", "layer1"], ["block2", "layer2"], ["block3", "layer3"],
         ["block4", "layer5"], ["pool", "layer6"]]


def variant(text, batch=None, pairs=None, width=None):
    text = text.replace('output = "../../results/bench"', f'output = "{ROOT}/results/bench"')
    if batch is not None:
        text = re.sub(r"^batch_size = \d+", f"batch_size = {batch}", text, flags=re.M)
    if width is not None:
        text = re.sub(r"^width = \d+", f"width = {width}", text, flags=re.M)
    if pairs is not None:
        listed = ", ".join(f'["{g}", "{t}"]' for g, t in PAIRS[:pairs])
        text = re.sub(r"^layer_map = \[.*?\]\]", f"layer_map = [{listed}]", text,
                      flags=re.M | re.S)
    return text


def bench(path, args):
    done = subprocess.run([os.path.join(ROOT, "build/bin/guidance"), "bench", path,
                           "--steps", str(args.steps), "--warmup", str(args.warmup),
                           "--threads", str(args.threads)], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"bench-scaling: {path}: {done.stderr}")
    return {k: float(v) for k, v in (line.split(" ", 1) for line in done.stdout.splitlines())}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    text = open(BASE).read()
    sweeps = [("batch size", "batch", [64, 128, 256, 512, 1024]),
              ("mapped pairs", "pairs", [1, 2, 3, 4, 5]),
              ("target width", "width", [256, 1024, 4096])]
    with tempfile.TemporaryDirectory() as folder:
        for title, key, values in sweeps:
            print(f"\n| {title} | s/step | guide forward | distances | GFLOP/step | "
                  f"% of matmul | peak MiB |\n|---|---|---|---|---|---|---|")
            for value in values:
                path = os.path.join(folder, f"{key}-{value}.toml")
                with open(path, "w") as out:
                    out.write(variant(text, **{key: value}))
                f = bench(path, args)
                print(f"| {value} | {f['seconds_per_step']:.3f} | {f['share.guide_forward']:.2f} | "
                      f"{f['share.distances']:.2f} | {f['step_gflop']:.1f} | "
                      f"{100 * f['compute_fraction']:.0f} | {f['peak_rss_mib']:.0f} |")
                sys.stdout.flush()


if __name__ == "__main__":
    main()
