#!/usr/bin/env python3
"""Damage drill: damaged plugin libraries and damaged records, fed to the commands that read them.

    damage_drill.py --cli build/bin/guidance --trials 100 [--seed 1] [--workdir DIR]

Plugin libraries: each trial damages one of the build's plugin libraries (truncated at a random
length, or 1 to 64 bytes flipped at random offsets, or flipped inside the first 4 KiB where the
ELF headers are) in two places: a copy of the build's own plugin folder, whose manifest lists the
library, and an out-of-tree folder given with --plugin-dir. `guidance plugins` must end normally
(exit 0, 1 or 2, no signal, no hang) and name the damaged library.

Records: one small guided run is recorded; each trial copies it and flips 1 to 8 bytes at random
offsets of run.h5 (or truncates it). h5py then tells whether the damage changed anything readable
(a value or attribute differs, or cannot be read) or nothing (unused bytes). `guidance verify`
must report every damage that changed something (a miss fails the drill), `summarize` and
`run --resume` must end normally, and `--resume` must never exit 0 on a damaged record.
Uses Debian's h5py.
"""
import argparse
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys

import h5py
import numpy as np

from kill_resume import CONFIG, flatten

TIMEOUT = 120
RECORD_CONFIG = CONFIG.split("[sweep]")[0]


def call(argv, cwd=None):
    """(exit code or "hang", stdout + stderr) of a command."""
    try:
        result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT,
                                errors="replace")
    except subprocess.TimeoutExpired:
        return "hang", ""
    return result.returncode, result.stdout + result.stderr


def ended_normally(code):
    return code in (0, 1, 2)


def damage(data, rng):
    """A damaged copy of `data` and how it was damaged."""
    kind = rng.randrange(3)
    if kind == 0:
        length = rng.randrange(len(data))
        return data[:length], f"truncated to {length} of {len(data)} bytes"
    damaged = bytearray(data)
    span = len(data) if kind == 1 else min(len(data), 4096)
    offsets = sorted(rng.randrange(span) for _ in range(rng.randint(1, 64 if kind == 1 else 8)))
    for offset in offsets:
        damaged[offset] ^= rng.randrange(1, 256)
    return bytes(damaged), f"{len(offsets)} bytes flipped at {offsets[:4]}{'...' if len(offsets) > 4 else ''}"


def plugin_trials(cli, workdir, trials, rng, folders):
    build_plugins = os.path.join(os.path.dirname(cli), "..", "lib", "guidance", "plugins")
    libraries = sorted(f for f in os.listdir(build_plugins) if f.endswith(".so"))
    failures = []
    outcomes = {"refused": 0, "loaded": 0}
    for trial in range(trials):
        name = rng.choice(libraries)
        with open(os.path.join(build_plugins, name), "rb") as f:
            damaged, how = damage(f.read(), rng)
        # A copy of the build: the program beside its plugin folder and the folder's manifest.
        tree = os.path.join(workdir, f"plugins-{trial}")
        shutil.rmtree(tree, ignore_errors=True)
        shutil.copytree(build_plugins, os.path.join(tree, "lib", "guidance", "plugins"))
        os.makedirs(os.path.join(tree, "bin"))
        program = os.path.join(tree, "bin", "guidance")
        shutil.copy(cli, program)
        in_build = os.path.join(tree, "lib", "guidance", "plugins", name)
        out_of_tree = os.path.join(tree, "extra", name)
        os.makedirs(os.path.dirname(out_of_tree))
        for path in (in_build, out_of_tree):
            with open(path, "wb") as f:
                f.write(damaged)
        commands = {"build": (in_build, [program, "plugins"]),
                    "out-of-tree": (out_of_tree, [cli, "--plugin-dir",
                                                  os.path.dirname(out_of_tree), "plugins"])}
        for path, argv in (commands[folder] for folder in folders):
            code, output = call(argv)
            problem = None
            if code == "hang":
                problem = f"hang (> {TIMEOUT} s)"
            elif code < 0:
                problem = f"crash: signal {-code}"
            elif not ended_normally(code):
                problem = f"exit code {code}"
            elif path not in output:
                problem = "the damaged library is not named"
            if problem:
                failures.append(f"plugin trial {trial} ({name}, {how}, {path}): {problem}")
            else:
                outcomes["refused" if "damaged" in output or "cannot" in output else "loaded"] += 1
        shutil.rmtree(tree, ignore_errors=True)
    return failures, outcomes


def digest(record_path):
    """A digest of every value and attribute h5py reads from a record (run in a child process:
    HDF5 itself can crash on a damaged global heap), or None when they cannot all be read."""
    with h5py.File(record_path, "r") as record:
        items = flatten(record)
    hashes = {}
    for key, value in items.items():
        value = np.asarray(value)
        text = value.tobytes() if value.dtype.kind not in "OU" else repr(value.tolist()).encode()
        hashes[key] = hashlib.sha256(str(value.dtype).encode() + str(value.shape).encode() +
                                     text).hexdigest()
    return hashes


def readable_content(path):
    try:
        result = subprocess.run([sys.executable, os.path.abspath(__file__), "--digest", path],
                                capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return None
    return json.loads(result.stdout) if result.returncode == 0 else None


def changed(reference, candidate):
    return candidate is None or candidate != reference


def record_trials(cli, workdir, trials, rng):
    reference_dir = os.path.join(workdir, "record-reference")
    os.makedirs(reference_dir)
    with open(os.path.join(reference_dir, "config.toml"), "w") as f:
        f.write(RECORD_CONFIG)
    code, output = call([cli, "run", "config.toml", "--quiet"], cwd=reference_dir)
    if code != 0:
        return [f"reference run failed ({code}): {output[-400:]}"], {}
    record = os.path.join(reference_dir, "out", "trial", "run.h5")
    reference = readable_content(record)
    with open(record, "rb") as f:
        original = f.read()
    failures = []
    outcomes = {"detected": 0, "harmless, verify ok": 0, "harmless, verify refused": 0}
    for trial in range(trials):
        copy = os.path.join(workdir, f"record-{trial}")
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(reference_dir, copy)
        damaged, how = damage(original, rng)
        path = os.path.join(copy, "out", "trial", "run.h5")
        with open(path, "wb") as f:
            f.write(damaged)
        harmful = changed(reference, readable_content(path))
        results = {
            "verify": call([cli, "verify", path]),
            "summarize": call([cli, "summarize", os.path.join(copy, "out")]),
            "resume": call([cli, "run", "config.toml", "--resume", "--quiet"], cwd=copy),
        }
        problems = [f"{command}: {'hang' if code == 'hang' else f'exit {code}'}"
                    for command, (code, _) in results.items()
                    if code == "hang" or not ended_normally(code)]
        if harmful and results["verify"][0] == 0:
            problems.append("verify missed damage that changed the record")
        if harmful and results["resume"][0] == 0:
            problems.append("--resume accepted a damaged record")
        if problems:
            failures.append(f"record trial {trial} ({how}): " + "; ".join(problems))
        elif harmful:
            outcomes["detected"] += 1
        else:
            # Unused bytes: verify may still refuse them (damaged HDF5 metadata h5py never reads).
            outcomes["harmless, verify ok" if results["verify"][0] == 0 else
                     "harmless, verify refused"] += 1
        shutil.rmtree(copy, ignore_errors=True)
    return failures, outcomes


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cli")
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", default="damage-drill")
    parser.add_argument("--folders", default="build,out-of-tree",
                        help="where damaged plugin libraries go: the build's own folder (checked "
                             "against its manifest), an out-of-tree one (probed in a child)")
    parser.add_argument("--digest", help=argparse.SUPPRESS)  # the child of readable_content()
    args = parser.parse_args()
    if args.digest:
        print(json.dumps(digest(args.digest)))
        return 0
    if not args.cli:
        parser.error("--cli is required")
    cli = os.path.abspath(args.cli)
    rng = random.Random(args.seed)
    shutil.rmtree(args.workdir, ignore_errors=True)
    os.makedirs(args.workdir)
    folders = args.folders.split(",")
    plugin_failures, plugin_outcomes = plugin_trials(cli, args.workdir, args.trials, rng, folders)
    record_failures, record_outcomes = record_trials(cli, args.workdir, args.trials, rng)
    for failure in plugin_failures + record_failures:
        print(failure)
    print(f"plugin libraries: {args.trials} trials x {len(folders)} folders, {plugin_outcomes}, "
          f"{len(plugin_failures)} failures")
    print(f"records: {args.trials} trials, {record_outcomes}, {len(record_failures)} failures")
    return 1 if plugin_failures or record_failures else 0


if __name__ == "__main__":
    sys.exit(main())
