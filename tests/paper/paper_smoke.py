#!/usr/bin/python3
"""Smoke test of the paper replication: one study of configs/paper/, shrunk to two seeds and a
few steps per run, trained by the binary, then its page section written by scripts/paper-page.py
through the same summarize / report / compare calls the full page uses.

    paper_smoke.py --cli build/bin/guidance --workdir DIR [--study f5-parity]

Fails when the shipped study config no longer runs, or when the page misses a part it promises
(the premise row opening the section, the trained guides' own test accuracy, the cell table with
its seeds, a verdict per claim, the detectable-effect column, the learning rates tried, the
curves, the heatmaps). The study runs 2
seeds, so that spreads, intervals and detectable effects are numbers; with fewer than 5 every
verdict must be withheld ("n < 5: too few to decide").
"""
import argparse
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
VERDICTS = ("reproduced", "not reproduced", "inconclusive", "premise not met",
            "premise not measured", "n < 5: too few to decide")
PREMISE_STATUSES = ("met", "not met", "not measured")


def shrink(text, runs):
    """The study with two seeds, tiny splits and 3 optimiser steps per run."""
    # (pattern, replacement, whether every study has such a line)
    replacements = [
        (r'(?m)^output = .*$', f'output = "{runs}"', True),
        (r'(?m)^(train_size|validation_size|test_size) = \d+$', r"\1 = 64", False),
        (r'(?m)^(train_subset|validation_size) = \d+$', r"\1 = 64", False),
        (r'(?m)^epochs = \d+$', "epochs = 1\nmax_steps = 3", True),
        (r'batch_size = \d+', "batch_size = 16", True),
        (r'(?m)^"run.seed" = \[.*\]$', '"run.seed" = [0, 1]', True),
        (r'(?m)^probe_size = \d+$', "probe_size = 16", True),
    ]
    for pattern, replacement, required in replacements:
        text, count = re.subn(pattern, replacement, text)
        if required and count == 0:
            sys.exit(f"paper_smoke: the study has no line matching {pattern!r}")

    def shrink_guide_training(match):
        """A trained guide's own training: 3 steps of 16 examples (its table may name either)."""
        table = match.group(0)
        if "batch_size" not in table:
            table = table.replace('plugin = "trained", ', 'plugin = "trained", batch_size = 16, ')
        return table.replace('plugin = "trained", ', 'plugin = "trained", max_steps = 3, ')
    return re.sub(r'\{ plugin = "trained", [^}]*\}', shrink_guide_training, text)


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
                              "--configs", os.path.abspath(args.workdir),
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
        opening = [line for line in body.split("\n")[1:] if line.strip()]
        premise = re.match(r"^\*\*Premise:\*\* .+ — \*\*([a-z ]+)\*\*\.$",
                           opening[0] if opening else "")
        if not premise or premise.group(1) not in PREMISE_STATUSES:
            problems.append(f"the section does not open with a premise row: {opening[:1]}")
        elif premise.group(1) != "not measured":
            # f5-parity has its premise cell (the RNN alone): each condition's figures shown.
            figures = []
            for line in opening[1:]:
                if not line.startswith("- "):
                    break
                figures.append(line)
            if not figures or not all(re.search(r"± [0-9.]+ \(n = 2\)", f) for f in figures):
                problems.append(f"premise conditions without their figures: {figures}")
        # f5-parity has a trained-guide cell: its guides' own test accuracy, read from the
        # records, opens the section after the premise.
        guides = re.search(r"(?m)^- the guides of the cell [^:]*guide\.init\.plugin=trained[^:]*: "
                           r"([0-9.]+) ± [0-9.]+ \(n = 2\)$", body)
        if "guide.init.plugin=trained" in body and not guides:
            problems.append("no test accuracy of the trained guides")
        elif guides and not 0 <= float(guides.group(1)) <= 1:
            problems.append(f"the trained guides' accuracy is not a share: {guides.group(0)}")
        if "Seeds per cell: 2" not in body:
            problems.append("no statement of the seeds per cell")
        cells = re.findall(r"(?m)^\| [^|]+ \| (\d+)/(\d+)( \(n < 5\))? \|", body)
        if not cells or any(done != found or not flag for done, found, flag in cells):
            problems.append(f"cell table rows (finished/found, flagged n < 5): {cells}")
        if "| detectable at 80 % power |" not in body:
            problems.append("no detectable-effect column in the claims table")
        claims = re.findall(r"(?m)^\| [^|]+ \| [^|]+ \| [^|]+ \| (±[0-9.]+|n/a) \| "
                            r"(\d+) vs (\d+) \| \*\*([^*]+)\*\* \|$", body)
        if not claims or not all(c[3].startswith(VERDICTS) for c in claims):
            problems.append(f"claims without a verdict: {claims}")
        if any(not c[0].startswith("±") for c in claims):
            problems.append(f"claims without a detectable effect: {claims}")
        if any("n < 5: too few to decide" not in c[3] for c in claims):
            problems.append(f"claims of 2 seeds a cell given a verdict: {claims}")
        if any((premise and premise.group(1) != "met") and
               f"premise {premise.group(1)}" not in c[3] for c in claims):
            problems.append(f"claims given a verdict where the premise is not met: {claims}")
        if "Every learning rate tried" not in body or body.count(" *") < 1:
            problems.append("no list of the learning rates tried")
        for picture in re.findall(r"!\[[^\]]*\]\(([^)]+\.svg)\)", body):
            if not os.path.exists(os.path.join(page, picture)):
                problems.append(f"missing picture {picture}")
        if "cka-guided-target-vs-guide.svg" not in body:
            problems.append("no guide x target heatmap")
        if "validation-loss.svg" not in body:
            problems.append("no validation loss curves")
    # The same records read against the study with a third seed: a study with runs still to do
    # is not summarised (no cells, no claims), its section says how far it is.
    more = os.path.join(os.path.abspath(args.workdir), "more")
    os.makedirs(more)
    with open(os.path.join(more, args.study + ".toml"), "w") as f:
        f.write(text.replace('"run.seed" = [0, 1]', '"run.seed" = [0, 1, 2]'))
    unfinished_page = os.path.join(os.path.abspath(args.workdir), "unfinished-page")
    os.makedirs(os.path.join(unfinished_page, "times"))
    with open(os.path.join(unfinished_page, "times", args.study + ".txt"), "w") as f:
        f.write("60\n")  # the time so far of a study stopped part-way
    written = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "scripts", "paper-page.py"),
                              "--cli", args.cli, "--runs", runs, "--page", unfinished_page,
                              "--configs", more, "--only", args.study],
                             capture_output=True, text=True)
    if written.returncode != 0:
        problems.append(f"paper-page.py failed on the unfinished study:\n{written.stderr}")
    else:
        with open(os.path.join(unfinished_page, "README.md")) as f:
            unfinished = f.read()
        stated = re.search(r"\*\*Study `[^`]+`\*\* — .*: unfinished, (\d+) of (\d+) runs done",
                           unfinished)
        if not stated or int(stated.group(2)) != int(stated.group(1)) * 3 // 2:
            problems.append(f"the unfinished study's progress is not stated as done of 1.5 times "
                            f"as many: {stated and stated.group(0)}")
        if "| claim |" in unfinished or "Seeds per cell" in unfinished:
            problems.append("the unfinished study was summarised")
        if "The 0 studies run took" not in unfinished:
            problems.append("the unfinished study's time is counted in the page's total")
    if problems:
        print(readme)
        sys.exit("paper_smoke: " + "; ".join(problems))
    print(f"paper_smoke: {args.study}: {len(cells)} cells, {len(claims)} claims with verdicts")


if __name__ == "__main__":
    main()
