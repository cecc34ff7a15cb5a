#!/usr/bin/env python3
"""Config fuzzing: mutations of configs/*.toml fed to `guidance check` (and a share of them to
`guidance run`, stopped after two steps), with a fixed seed.

    fuzz_configs.py --cli build/bin/guidance --cases 2000 [--seed 1] [--run-share 0.05]

Mutations: byte flips, dropped and duplicated lines, hostile values, dotted-key and nesting bombs,
sweep explosions, hostile run.name, absurd sizes, and keys naming files no reader may hang on or
read without bound (/dev/zero, /dev/urandom, a FIFO, a folder, a sparse 9 GiB file, an IDX header
declaring 2^48 bytes). Asserts for every case: no crash (death by a signal), no hang (timeout), exit code 0, 1 or 2,
every config error (exit 2) naming a location (the config file, with a line where the file has
one), and nothing written outside the run's output folder (the sandbox's results/, or results/
beside the config when a mutant drops run.output) nor in the filesystem root. Prints a line per failure and a summary; exits 1 if any case failed.
"""
import argparse
import os
import random
import re
import shutil
import subprocess
import sys

TIMEOUT = 60
HOSTILE_VALUES = [
    "4294967297", "-1", "0", "1e308", "nan", "inf", "-inf", '""', '"/"', '"/tmp/escape"',
    '"../../escape"', '"a/./b"', '"guide-cache"', '"' + "x" * 5000 + '"', "[]", "{}", "true",
    '"cuda:"', '"cuda:x"', '"cuda:99999"', "[1, 2, 3]", "[[]]", '"\\u0000"', "9223372036854775807",
]


# Tables that read a file or folder a key names, with "{}" where the hostile path goes.
FILE_TABLES = [
    '[dataset]\nplugin = "text"\nunit = "character"\npath = "{}"',
    '[dataset]\nplugin = "fashion-mnist"\ntrain_images = "{}"',
    '[dataset]\nplugin = "fashion-mnist"\ndirectory = "{}"',
    '[dataset]\nplugin = "cifar10"\ndirectory = "{}"',
    '[dataset]\nplugin = "image-folder"\nroot = "{}"',
    '[target]\nplugin = "torchscript"\npath = "{}"',
]


def hostile_files(sandbox):
    """Paths no reader may hang on, crash on or read without bound: devices, a FIFO, a folder,
    a missing file, an empty one, a sparse 9 GiB one, an IDX header declaring 2^48 bytes."""
    fifo = os.path.join(sandbox, "inputs", "pipe")
    os.makedirs(os.path.dirname(fifo), exist_ok=True)
    os.mkfifo(fifo)
    empty = os.path.join(sandbox, "inputs", "empty")
    open(empty, "wb").close()
    sparse = os.path.join(sandbox, "inputs", "sparse")
    with open(sparse, "wb") as f:
        f.truncate(9 << 30)
    idx = os.path.join(sandbox, "inputs", "huge-idx3-ubyte")
    with open(idx, "wb") as f:
        f.write(bytes([0, 0, 8, 3]) + (1 << 16).to_bytes(4, "big") * 3)
    return ["/dev/zero", "/dev/urandom", "/dev/null", fifo, os.path.join(sandbox, "inputs"),
            os.path.join(sandbox, "inputs", "absent"), empty, sparse, idx]


def replace_table(lines, table):
    """The config with its table of `table`'s header replaced by `table` (appended if absent)."""
    header = table.split("\n", 1)[0]
    if header in lines:
        start = lines.index(header)
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("[")),
                   len(lines))
        return lines[:start] + table.split("\n") + lines[end:]
    return lines + table.split("\n")


def mutate(text, rng, files):
    lines = text.splitlines()
    choice = rng.randrange(11)
    if choice == 10:  # a key names a device, a FIFO, a folder, a huge or damaged file
        return "\n".join(replace_table(lines, rng.choice(FILE_TABLES).format(rng.choice(files)))) + "\n"
    if choice == 0 and lines:  # flip bytes
        data = bytearray(text.encode())
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return data.decode("utf-8", "replace")
    if choice == 1 and lines:  # drop lines
        for _ in range(rng.randint(1, 4)):
            if lines:
                del lines[rng.randrange(len(lines))]
    elif choice == 2 and lines:  # duplicate lines
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(lines))
            lines.insert(rng.randrange(len(lines) + 1), lines[i])
    elif choice in (3, 4, 5):  # replace a value by a hostile one
        values = [i for i, line in enumerate(lines) if re.match(r"^\s*[\w\".-]+\s*=", line)]
        if values:
            i = rng.choice(values)
            key = lines[i].split("=", 1)[0]
            lines[i] = key + "= " + rng.choice(HOSTILE_VALUES)
    elif choice == 6:  # dotted-key or nesting bomb
        depth = rng.choice([40, 1000, 50000])
        lines.append("a" + ".a" * depth + " = 1" if rng.random() < 0.5 else
                     "bomb = " + "[" * depth + "]" * depth)
    elif choice == 7:  # sweep explosion or malformed sweep
        axes = rng.randint(1, 12)
        lines.append("[sweep]")
        for a in range(axes):
            lines.append(f'"run.seed{a}" = [' + ", ".join(str(v) for v in range(rng.randint(1, 60))) + "]"
                         if rng.random() < 0.5 else f'"run.seed" = {rng.choice(HOSTILE_VALUES)}')
    elif choice == 8:  # run.name hostile
        lines = [l for l in lines if not l.startswith("name")]
        lines.insert(1 if lines else 0, "name = " + rng.choice(HOSTILE_VALUES))
    else:  # sizes
        lines.append("[target]")
        lines.append(rng.choice(["depth", "width", "hidden", "layers"]) + " = " +
                     rng.choice(["4294967297", "100000000", "-5", "0"]))
    return "\n".join(lines) + "\n"


def tree(directory):
    found = set()
    for root, dirs, files in os.walk(directory):
        for name in dirs + files:
            found.add(os.path.relpath(os.path.join(root, name), directory))
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cli", required=True)
    parser.add_argument("--configs", default=os.path.join(os.path.dirname(__file__), "../../configs"))
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--run-share", type=float, default=0.05)
    parser.add_argument("--workdir", default="fuzz-configs")
    args = parser.parse_args()
    cli = os.path.abspath(args.cli)
    rng = random.Random(args.seed)
    sources = sorted(os.path.join(args.configs, f) for f in os.listdir(args.configs)
                     if f.endswith(".toml"))
    texts = {os.path.basename(p): open(p).read() for p in sources}
    shutil.rmtree(args.workdir, ignore_errors=True)
    sandbox = os.path.abspath(os.path.join(args.workdir, "configs"))
    os.makedirs(sandbox)
    files = hostile_files(sandbox)
    root_before = set(os.listdir("/"))
    failures, counts = [], {"check": 0, "run": 0, "exit 0": 0, "exit 1": 0, "exit 2": 0}
    env = dict(os.environ, GUIDANCE_STOP_AT_STEP="2")
    for case in range(args.cases):
        name = rng.choice(sorted(texts))
        text = mutate(texts[name], rng, files)
        # The mutant lives where its original did, so relative paths (output = "../results")
        # resolve inside the sandbox.
        path = os.path.join(sandbox, name)
        with open(path, "w") as f:
            f.write(text)
        before = tree(args.workdir)
        command = "run" if rng.random() < args.run_share else "check"
        counts[command] += 1
        argv = [cli, command, path] + (["--restart", "--quiet"] if command == "run" else [])
        try:
            result = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT,
                                    env=env, errors="replace")
        except subprocess.TimeoutExpired:
            failures.append((case, name, command, f"hang (> {TIMEOUT} s)", text))
            continue
        code = result.returncode
        problem = None
        if code < 0:
            problem = f"crash: signal {-code}"
        elif code not in (0, 1, 2, 130):
            problem = f"exit code {code}"
        elif code == 2 and path not in result.stderr and name not in result.stderr:
            problem = "config error without a location: " + result.stderr.strip()[:300]
        counts[f"exit {code}"] = counts.get(f"exit {code}", 0) + 1
        # run.output is "../results" in the shipped configs, "results" beside the config when a
        # mutant drops the key: both lie inside the run's own output folder.
        outputs = ("results", os.path.join("configs", "results"))
        written = {p for p in tree(args.workdir) - before
                   if not p.startswith(outputs) and p != os.path.join("configs", name)}
        if written:
            problem = f"wrote outside results/: {sorted(written)[:5]}"
        new_root = set(os.listdir("/")) - root_before
        if new_root:
            problem = f"wrote in the filesystem root: {sorted(new_root)}"
        if problem:
            failures.append((case, name, command, problem, text))
        for output in outputs:
            shutil.rmtree(os.path.join(args.workdir, output), ignore_errors=True)
    for case, name, command, problem, text in failures:
        print(f"case {case} ({command} mutant of {name}): {problem}")
    print(f"{args.cases} cases ({counts['check']} check, {counts['run']} run; exit codes "
          f"{ {k: v for k, v in counts.items() if k.startswith('exit')} }): "
          f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
