#!/usr/bin/env python3
"""Kill-and-resume trials: SIGKILL real runs at random instants, resume until done, and require
every record to end identical to an uninterrupted run's (bit for bit, every dataset).

    kill_resume.py --cli build/bin/guidance --trials 20 [--seed 1] [--workdir DIR]

Each trial trains a small guided parity sweep (2 runs) with snapshots and checkpoints. A trial's
attempts are killed at a uniformly random time within the uninterrupted run's duration, or, for
one attempt in three, at a deterministic point (GUIDANCE_KILL_AT: a step, inside a snapshot, or
while finishing). It resumes with --resume until an attempt exits 0. Uses Debian's h5py.
"""
import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import h5py
import numpy as np

CONFIG = """[run]
name = "trial"
seed = 3
threads = 1
output = "out"
checkpoint_every = 7
log_every = 1000

[dataset]
plugin = "parity"
train_size = 256
validation_size = 64
test_size = 64
max_length = 10

[target]
plugin = "rnn"
hidden = 16

[guide]
plugin = "transformer"
width = 16

[guide.init]
plugin = "untrained"

[guidance]
alpha = 0.5

[train]
batch_size = 32
max_steps = 40
learning_rate = 0.003

[record]
every = 10
probe_size = 48
metrics = ["linear-cka", "rsa"]

[sweep]
"run.seed" = [3, 4]
"""

# Provenance attributes that differ between an interrupted and an uninterrupted run by design,
# and the checksums over them and over the config text (which names its own output folder).
VOLATILE = {"start_time", "end_time", "resumed_at", "config_path", "host"}
VOLATILE_CHECKSUMS = {"config@fnv1a64", "provenance@string_attributes_fnv1a64"}


def flatten(record):
    """Every dataset (values) and attribute of a record, by path."""
    items = {}

    def visit(name, node):
        for key, value in node.attrs.items():
            if not (name == "provenance" and key in VOLATILE) and \
                    f"{name}@{key}" not in VOLATILE_CHECKSUMS:
                items[f"{name}@{key}"] = value
        if isinstance(node, h5py.Dataset):
            items[name] = node[()]

    for key, value in record.attrs.items():
        items[f"/@{key}"] = value
    record.visititems(visit)
    return items


def same(a, b):
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        return a.shape == b.shape and a.dtype == b.dtype and (
            np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))
    return a == b


def differences(reference, candidate, reference_dir, candidate_dir):
    with h5py.File(reference, "r") as r, h5py.File(candidate, "r") as c:
        left, right = flatten(r), flatten(c)
    # The resolved config names its own output folder.
    right["config"] = right["config"].replace(os.path.abspath(candidate_dir).encode(),
                                              os.path.abspath(reference_dir).encode())
    problems = [f"missing {k}" for k in left.keys() - right.keys()]
    problems += [f"extra {k}" for k in right.keys() - left.keys()]
    problems += [f"differs {k}" for k in left.keys() & right.keys() if not same(left[k], right[k])]
    return sorted(problems)


def records(directory):
    found = []
    for root, _, files in os.walk(directory):
        found += [os.path.join(root, f) for f in files if f == "run.h5"]
    return sorted(os.path.relpath(p, directory) for p in found)


def leftovers(directory):
    return [os.path.join(root, f) for root, _, files in os.walk(directory) for f in files
            if ".partial." in f]


def run(cli, workdir, resume, env=None, kill_after=None):
    command = [cli, "run", "config.toml", "--quiet"] + (["--resume"] if resume else [])
    process = subprocess.Popen(command, cwd=workdir, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    if kill_after is not None:
        try:
            process.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
    try:
        _, err = process.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        process.kill()
        return "hang", ""
    return process.returncode, err


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cli", required=True)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", default="reliability-trials")
    parser.add_argument("--max-attempts", type=int, default=60)
    args = parser.parse_args()
    args.cli = os.path.abspath(args.cli)
    rng = random.Random(args.seed)
    shutil.rmtree(args.workdir, ignore_errors=True)

    reference = os.path.join(args.workdir, "reference")
    os.makedirs(reference)
    with open(os.path.join(reference, "config.toml"), "w") as f:
        f.write(CONFIG)
    began = time.monotonic()
    code, err = run(args.cli, reference, resume=False)
    duration = time.monotonic() - began
    if code != 0:
        print(f"reference run failed ({code}): {err}", file=sys.stderr)
        return 1
    expected = records(os.path.join(reference, "out"))
    points = [f"step:{k}" for k in (1, 7, 8, 14, 33, 40)] + \
             [f"snapshot:{k}" for k in (10, 20, 40)] + ["finish"]

    identical = 0
    total_kills = 0
    for trial in range(args.trials):
        workdir = os.path.join(args.workdir, f"trial-{trial}")
        os.makedirs(workdir)
        shutil.copy(os.path.join(reference, "config.toml"), workdir)
        kills, outcome = 0, None
        for attempt in range(args.max_attempts):
            env = dict(os.environ)
            kill_after = None
            if attempt < args.max_attempts - 1 and rng.random() < 0.8:
                if rng.random() < 1 / 3:
                    env["GUIDANCE_KILL_AT"] = rng.choice(points)
                else:
                    kill_after = rng.uniform(0, duration * 1.1)
            code, err = run(args.cli, workdir, resume=attempt > 0, env=env, kill_after=kill_after)
            if code == 0:
                outcome = "done"
                break
            if code == -signal.SIGKILL:
                kills += 1
                continue
            outcome = f"exit {code}: {err.strip()[-400:]}"
            break
        total_kills += kills
        out = os.path.join(workdir, "out")
        problems = []
        if outcome != "done":
            problems.append(outcome or "did not finish")
        else:
            found = records(out)
            if found != expected:
                problems.append(f"records {found} != {expected}")
            for name in set(found) & set(expected):
                problems += [f"{name}: {p}" for p in differences(
                    os.path.join(reference, "out", name), os.path.join(out, name),
                    reference, workdir)]
            problems += [f"leftover {p}" for p in leftovers(out)]
        status = "identical" if not problems else "DIFFERENT: " + "; ".join(problems[:8])
        identical += not problems
        print(f"trial {trial}: {kills} kills, {status}", flush=True)
    print(f"{identical}/{args.trials} trials identical to the uninterrupted run "
          f"({total_kills} SIGKILLs)")
    return 0 if identical == args.trials else 1


if __name__ == "__main__":
    sys.exit(main())
