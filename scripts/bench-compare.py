#!/usr/bin/python3
"""Times the bench pairs in guidance and in plain PyTorch, alternately, and prints the ratios.

    scripts/bench-compare.py [--pairs vision sequence] [--repeats 5] [--steps 10] [--warmup 3]
        [--threads 2] [--modes guided unguided] [--guide-cache-mb N]

Each repeat runs `guidance bench configs/bench/<pair>.toml` and
`tests/benchmarks/plain_pytorch.py <pair>` once each, the order alternating, so both see the same
machine state; steps/s are timed in process after the warm-up on both sides. Prints each side's
median, the ratio guidance / PyTorch, and guidance's breakdown from its median run. Absolute
figures do not carry across machines; the ratios do.
"""
import argparse
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", nargs="+", default=["vision", "sequence"])
    parser.add_argument("--modes", nargs="+", default=["guided", "unguided"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--guide-cache-mb", type=int, default=None,
                        help="guidance side only: guidance.guide_cache_mb (warm-up must span an epoch "
                             "for the timed steps to hit the cache)")
    parser.add_argument("--guidance", default=os.path.join(ROOT, "build/bin/guidance"))
    args = parser.parse_args()

    print(f"{'pair':<10} {'mode':<9} {'guidance steps/s':>17} {'PyTorch steps/s':>16} {'ratio':>6}")
    for pair in args.pairs:
        for mode in args.modes:
            ours = [os.path.abspath(args.guidance), "bench", f"configs/bench/{pair}.toml",
                    "--steps", str(args.steps), "--warmup", str(args.warmup),
                    "--threads", str(args.threads)]
            plain = ["/usr/bin/python3", "tests/benchmarks/plain_pytorch.py", pair,
                     "--steps", str(args.steps), "--warmup", str(args.warmup),
                     "--threads", str(args.threads)]
            if mode == "unguided":
                ours.append("--unguided")
                plain.append("--unguided")
            if args.guide_cache_mb is not None:
                ours += ["--guide-cache-mb", str(args.guide_cache_mb)]
            runs, references = [], []
            for repeat in range(args.repeats):
                if repeat % 2 == 0:
                    runs.append(run(ours))
                    references.append(run(plain)["steps_per_s"])
                else:
                    references.append(run(plain)["steps_per_s"])
                    runs.append(run(ours))
            speed = statistics.median(r["steps_per_s"] for r in runs)
            reference = statistics.median(references)
            print(f"{pair:<10} {mode:<9} {speed:>17.3f} {reference:>16.3f} {speed / reference:>5.2f}x")
            middle = sorted(runs, key=lambda r: r["steps_per_s"])[len(runs) // 2]
            shares = ", ".join(f"{k[6:]} {v:.2f}" for k, v in middle.items() if k.startswith("share."))
            print(f"{'':<20} breakdown: {shares}; {middle['step_gflop']:.1f} GFLOP/step, "
                  f"{middle['compute_fraction'] * 100:.0f} % of a "
                  f"{middle['matmul_gflop_per_s']:.0f} GFLOP/s matmul, "
                  f"peak {middle['peak_rss_mib']:.0f} MiB")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
