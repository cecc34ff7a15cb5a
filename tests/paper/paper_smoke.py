#!/usr/bin/python3
"""Smoke test of the paper replication: one study of configs/paper/, shrunk to one seed and a
few steps per run, trained by the binary, then its page section written by scripts/paper-page.py
through the same summarize / report / compare calls the full page uses.

    paper_smoke.py --cli build/bin/guidance --workdir DIR [--study f5-parity]

Fails when the shipped study config no longer runs, or when the page misses a part it promises
(the cell table, a verdict per claim, the learning rates tried, the curves, the heatmaps).
"""
import argparse
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
VERDICTS = ("reproduced", "not reproduced", "inconclusive")


def shrink(text, runs):
    """The study with one seed, tiny splits and 3 optimiser steps per run."""
    # (pattern, replacement, whether every study has such a line)
    replacements = [
        (r'(?m)^output = .*$', f'output = "{runs}"', True),
        (r'(?m)^(train_size|validation_size|test_size) = \d+$', r"\1 = 64", False),
        (r'(?m)^(train_subset|validation_size) = \d+$', r"\1 = 64", False),
        (r'(?m)^epochs = \d+$', "epochs = 1\nmax_steps = 3", True),
        (r'(?m)^batch_size = \d+$', "batch_size = 16", True),
        (r'\{ plugin = "trained", ', '{ plugin = "trained", batch_size = 16, max_steps = 3, ',
         False),
        (r'(?m)^"run.seed" = \[.*\]$', '"run.seed" = [0]', True),
        (r'(?m)^probe_size = \d+$', "probe_size = 16", True),
    ]
    for pattern, replacement, required in replacements:
        text, count = re.subn(pattern, replacement, text)
        if required and count == 0:
            sys.exit(f"paper_smoke: the study has no line matching {pattern!r}")
    return text


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cli", required=True)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--study", default="f5-parity")
    args = parser.parse_args()
    shutil.rmtree(args.workdir, ignore_errors=True)
    runs = os.path.join(os.path.abspath(args.workdir), "runs")
    page = os.path.join(os.path.abspath(args.workdir), "page")
    os.makedirs(page)
    config = os.path.join(args.workdir, args.study + ".toml")
    with open(os.path.join(ROOT, "configs", "paper", args.study + ".toml")) as f:
        text = shrink(f.read(), runs)
    with open(config, "w") as f:
        f.write(text)
    trained = subprocess.run([args.cli, "run", config, "--jobs", "2", "--quiet"],
                             capture_output=True, text=True)
    if trained.returncode != 0:
        sys.exit(f"paper_smoke: guidance run failed ({trained.returncode}):\n{trained.stderr}")
    written = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "scripts", "paper-page.py"),
                              "--cli", args.cli, "--runs", runs, "--page", page,
                              "--only", args.study], capture_output=True, text=True)
    if written.returncode != 0:
        sys.exit(f"paper_smoke: paper-page.py failed ({written.returncode}):\n{written.stderr}")
    with open(os.path.join(page, "README.md")) as f:
        readme = f.read()
    problems = []
    section = readme.split(f"**Study `{args.study}`**", 1)
    if len(section) != 2:
        problems.append(f"no section for the study {args.study}")
    else:
        body = section[1]
        cells = re.findall(r"(?m)^\| [^|]+ \| (\d+)/(\d+) \|", body)
        if not cells or any(done != found for done, found in cells):
            problems.append(f"cell table rows (finished/found): {cells}")
        claims = re.findall(r"(?m)^\| [^|]+ \| [^|]+ \| [^|]+ \| \*\*([^*]+)\*\* \|$", body)
        if not claims or not all(c.startswith(VERDICTS) for c in claims):
            problems.append(f"claims without a verdict: {claims}")
        if "Every learning rate tried" not in body or body.count(" *") < 1:
            problems.append("no list of the learning rates tried")
        for picture in re.findall(r"!\[[^\]]*\]\(([^)]+\.svg)\)", body):
            if not os.path.exists(os.path.join(page, picture)):
                problems.append(f"missing picture {picture}")
        if "cka-guided-target-vs-guide.svg" not in body:
            problems.append("no guide x target heatmap")
        if "validation-loss.svg" not in body:
            problems.append("no validation loss curves")
    if problems:
        print(readme)
        sys.exit("paper_smoke: " + "; ".join(problems))
    print(f"paper_smoke: {args.study}: {len(cells)} cells, {len(claims)} claims with verdicts")


if __name__ == "__main__":
    main()
