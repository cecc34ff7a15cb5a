#!/usr/bin/python3
"""Times the bench pairs in guidance and in plain PyTorch, alternately, and prints the ratios.

    scripts/bench-compare.py [--pairs vision sequence] [--repeats 5] [--steps 10] [--warmup 3]
        [--threads 2] [--modes guided unguided] [--precision 32[,bf16-mixed]]
        [--guide-cache-mb N] [--dry-run]

Each repeat runs `guidance bench configs/bench/<pair>.toml --precision P` and
`tests/benchmarks/plain_pytorch.py <pair> --precision P` once each for every listed precision P,
the order alternating, so both sides and all precisions see the same machine state; steps/s are
timed in process after the warm-up on both sides. Prints a markdown table: each side's median,
the ratio guidance / PyTorch in the same precision and, for bf16-mixed rows when 32 is also
listed, guidance bf16-mixed / plain PyTorch float32 (same pair and mode, same invocation); then
guidance's breakdown from its median run of each row. Absolute figures do not carry across
machines; the ratios do.
"""
import argparse
import os
import shlex
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRECISIONS = ("32", "bf16-mixed")


def figures(output):
    values = {}
    for line in output.splitlines():
        name, _, value = line.partition(" ")
        try:
            values[name] = float(value)
        except ValueError:
            pass
    return values


def run(command):
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"bench-compare: {' '.join(command)} failed ({done.returncode}):\n{done.stderr}")
    return figures(done.stdout)


def precision_list(text):
    """`32,bf16-mixed` -> ["32", "bf16-mixed"]: known names, in order, each once."""
    names = []
    for name in (part.strip() for part in text.split(",")):
        if name not in PRECISIONS:
            raise argparse.ArgumentTypeError(
                f"unknown precision {name!r} (expected a comma list of {', '.join(PRECISIONS)})")
        if name not in names:
            names.append(name)
    return names


def commands(args, pair, mode, precision):
    ours = [os.path.abspath(args.guidance), "bench", f"configs/bench/{pair}.toml",
            "--steps", str(args.steps), "--warmup", str(args.warmup),
            "--threads", str(args.threads), "--precision", precision]
    plain = ["/usr/bin/python3", "tests/benchmarks/plain_pytorch.py", pair,
             "--steps", str(args.steps), "--warmup", str(args.warmup),
             "--threads", str(args.threads), "--precision", precision]
    if mode == "unguided":
        ours.append("--unguided")
        plain.append("--unguided")
    if args.guide_cache_mb is not None:
        ours += ["--guide-cache-mb", str(args.guide_cache_mb)]
    return ours, plain


def breakdown(middle):
    shares = ", ".join(f"{k[6:]} {v:.2f}" for k, v in middle.items() if k.startswith("share."))
    return (f"{shares}; {middle['step_gflop']:.1f} GFLOP/step, "
            f"{middle['compute_fraction'] * 100:.0f} % of a "
            f"{middle['matmul_gflop_per_s']:.0f} GFLOP/s float32 matmul, "
            f"peak {middle['peak_rss_mib']:.0f} MiB")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", nargs="+", default=["vision", "sequence"])
    parser.add_argument("--modes", nargs="+", default=["guided", "unguided"],
                        choices=["guided", "unguided"])
    parser.add_argument("--precision", type=precision_list, default=["32"], metavar="P[,P]",
                        help="comma list of precisions to run every pair in, on both sides: "
                             f"{', '.join(PRECISIONS)} (default 32)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--guide-cache-mb", type=int, default=None,
                        help="guidance side only: guidance.guide_cache_mb (warm-up must span an epoch "
                             "for the timed steps to hit the cache)")
    parser.add_argument("--guidance", default=os.path.join(ROOT, "build/bin/guidance"))
    parser.add_argument("--dry-run", action="store_true",
                        help="print the command lines, in the order they would run, and exit")
    args = parser.parse_args()
    precisions = args.precision

    if args.dry_run:
        for pair in args.pairs:
            for mode in args.modes:
                for repeat in range(args.repeats):
                    for index, precision in enumerate(precisions):
                        ours, plain = commands(args, pair, mode, precision)
                        order = (ours, plain) if (repeat + index) % 2 == 0 else (plain, ours)
                        for command in order:
                            print(f"# {pair} {mode} {precision} repeat {repeat + 1}: "
                                  f"{shlex.join(command)}")
        return

    fp32_column = "32" in precisions and "bf16-mixed" in precisions
    header = ["pair", "mode", "precision", "guidance steps/s", "PyTorch steps/s", "ratio"]
    if fp32_column:
        header.append("vs PyTorch float32")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    sys.stdout.flush()

    notes = []
    for pair in args.pairs:
        for mode in args.modes:
            runs = {p: [] for p in precisions}
            references = {p: [] for p in precisions}
            for repeat in range(args.repeats):
                for index, precision in enumerate(precisions):
                    ours, plain = commands(args, pair, mode, precision)
                    if (repeat + index) % 2 == 0:
                        runs[precision].append(run(ours))
                        references[precision].append(run(plain)["steps_per_s"])
                    else:
                        references[precision].append(run(plain)["steps_per_s"])
                        runs[precision].append(run(ours))
            for precision in precisions:
                speed = statistics.median(r["steps_per_s"] for r in runs[precision])
                reference = statistics.median(references[precision])
                row = [pair, mode, precision, f"{speed:.3f}", f"{reference:.3f}",
                       f"{speed / reference:.2f}x"]
                if fp32_column:
                    if precision == "bf16-mixed":
                        fp32 = statistics.median(references["32"])
                        row.append(f"{speed / fp32:.2f}x")
                    else:
                        row.append("")
                print("| " + " | ".join(row) + " |")
                sys.stdout.flush()
                middle = sorted(runs[precision], key=lambda r: r["steps_per_s"])[
                    len(runs[precision]) // 2]
                notes.append(f"- {pair} {mode} {precision}: {breakdown(middle)}")

    print()
    print("guidance breakdown (its median run of each row):")
    print("\n".join(notes))


if __name__ == "__main__":
    main()
