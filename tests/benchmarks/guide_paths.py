#!/usr/bin/python3
"""Times the bench pairs' frozen guides on the two paths a Linear layer could take.

The architecture plugins run a Linear layer without autograd on a CPU through oneDNN's inner
product (`plugins/architecture/common/Linear.h`): dense input to oneDNN's layout, the product,
back to dense. Its output rows do not depend on their neighbours, which the guide-tap cache
needs. The other path is LibTorch's own linear (OpenBLAS in float32, autocast's bf16 matmul).
This script runs each bench guide's forward pass (the plain-PyTorch mirrors of
`plain_pytorch.py`) on a training batch both ways, alternating, and prints each path's median
seconds per forward pass and their ratio, in float32 and under bf16 autocast. `--profile` prints
instead where each guide's forward pass spends its time on the plugins' path (LibTorch's
profiler over 5 passes, operators by their own CPU time).

    python3 tests/benchmarks/guide_paths.py [--repeats 15] [--warmup 3] [--threads 2]
                                            [--precision 32,bf16-mixed] [--profile]

Run it as `guidance` runs (glibc's heap settings of `main()`):
    MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=2147483647 python3 tests/benchmarks/guide_paths.py
"""
import argparse
import contextlib
import statistics
import time

import torch
from torch import nn

import plain_pytorch


def onednn_linear(self, x):
    """What `guidance::architecture::linear()` does outside autograd on a CPU."""
    bf16 = torch.is_autocast_cpu_enabled() and torch.get_autocast_cpu_dtype() == torch.bfloat16
    dtype = torch.bfloat16 if bf16 else torch.float32
    rows = x.reshape(-1, x.shape[-1]).to(dtype).contiguous()
    bias = self.bias.to(dtype) if self.bias is not None else None
    y = torch._C._nn.mkldnn_linear(rows.to_mkldnn(), self.weight.to(dtype), bias).to_dense()
    return y.view(*x.shape[:-1], self.weight.shape[0])


LIBTORCH_LINEAR = nn.Linear.forward


def guides():
    """(name, guide, batch input) of each bench pair, the guide frozen as the workbench runs it."""
    images = torch.rand(256, 1, 28, 28)
    tokens, _, vocab = plain_pytorch.copy_paste(256)
    cnn = plain_pytorch.ConvNet().to(memory_format=torch.channels_last)
    images = images.to(memory_format=torch.channels_last)
    transformer = plain_pytorch.Transformer(vocab, tokens.shape[1])
    for guide in (cnn, transformer):
        guide.eval()
        for parameter in guide.parameters():
            parameter.requires_grad_(False)
    return [("vision guide (convnet)", cnn, images),
            ("sequence guide (transformer)", transformer, tokens)]


def autocast(bf16):
    return torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


def forward(guide, inputs, path, bf16):
    """The frozen guide's forward pass with its Linear layers on `path`."""
    nn.Linear.forward = path
    with torch.no_grad(), autocast(bf16):
        return guide(inputs)


def seconds(guide, inputs, path, bf16):
    begin = time.perf_counter()
    forward(guide, inputs, path, bf16)
    return time.perf_counter() - begin


def profile(guide, inputs, bf16):
    nn.Linear.forward = onednn_linear
    with torch.no_grad(), autocast(bf16):
        for _ in range(3):
            guide(inputs)
        with torch.autograd.profiler.profile() as profiler:
            for _ in range(5):
                guide(inputs)
    return profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=12)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--precision", default="32,bf16-mixed")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.profile:
        for name, guide, inputs in guides():
            for precision in args.precision.split(","):
                print(f"{name}, {precision}, oneDNN inner products:")
                print(profile(guide, inputs, precision == "bf16-mixed"))
        nn.Linear.forward = LIBTORCH_LINEAR
        return
    paths = {"onednn (batch-invariant)": onednn_linear, "libtorch linear": LIBTORCH_LINEAR}
    print("guide | precision | " + " | ".join(f"{name} s" for name in paths) + " | ratio")
    for name, guide, inputs in guides():
        for precision in args.precision.split(","):
            bf16 = precision == "bf16-mixed"
            outputs = [forward(guide, inputs, path, bf16).float() for path in paths.values()]
            # Both paths must compute the same function, else their times compare different work.
            tolerance = 5e-2 if bf16 else 1e-4
            if not torch.allclose(outputs[0], outputs[1], rtol=tolerance, atol=tolerance):
                raise SystemExit(f"guide_paths: the two paths disagree on the {name} ({precision})")
            times = {path: [] for path in paths}
            for _ in range(args.warmup):
                for path in paths.values():
                    seconds(guide, inputs, path, bf16)
            for _ in range(args.repeats):
                for path_name, path in paths.items():
                    times[path_name].append(seconds(guide, inputs, path, bf16))
            medians = [statistics.median(times[path]) for path in paths]
            print(f"{name} | {precision} | " + " | ".join(f"{m:.4f}" for m in medians) +
                  f" | {medians[0] / medians[1]:.2f}")
    nn.Linear.forward = LIBTORCH_LINEAR


if __name__ == "__main__":
    main()
