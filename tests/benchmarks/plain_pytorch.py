#!/usr/bin/python3
"""The bench pairs of configs/bench/ written as a researcher would in plain PyTorch.

In the style of the paper's code: taps are collected with forward hooks, and linear CKA centres
the n x n Grams with the centring matrix H (H K H). The networks mirror the workbench's plugins
layer for layer (mlp, convnet, rnn, transformer), so both sides do the same arithmetic.

    python3 tests/benchmarks/plain_pytorch.py vision|sequence [--steps N] [--warmup N]
        [--unguided] [--threads N] [--precision 32|bf16-mixed]

Prints `steps_per_s VALUE` (N steps timed in process after the warm-up), as `guidance bench`
does. Uses Debian's python3-torch: the same LibTorch 1.13 and BLAS as the workbench.

`--precision bf16-mixed` mirrors the workbench's `train.precision = "bf16-mixed"` as a researcher
would write it: the target's and the guide's forward passes run under
`torch.autocast("cpu", dtype=torch.bfloat16)`, their logits and hooked taps are cast to float32
before the task loss and CKA, which run in float32 outside autocast, as does the backward pass;
master weights and Adam stay float32. `32` (the default) is the plain float32 loop.
"""
import argparse
import contextlib
import gzip
import time

import numpy as np
import torch
from torch import nn

FASHION_MNIST = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
FASHION_MNIST_LABELS = "/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz"


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def linear_cka(x, y):
    """Linear CKA of two [n, d] matrices through centred Grams H K H."""
    n = x.shape[0]
    h = torch.eye(n) - torch.full((n, n), 1.0 / n)
    k = h @ (x @ x.T) @ h
    l = h @ (y @ y.T) @ h
    return (k * l).sum() / (k.norm() * l.norm())


class Taps:
    """Collects module outputs with forward hooks, in registration order."""

    def __init__(self, modules, pick=lambda output: output):
        self.outputs = [None] * len(modules)
        for i, module in enumerate(modules):
            module.register_forward_hook(self._hook(i, pick))

    def _hook(self, i, pick):
        def store(_module, _inputs, output):
            self.outputs[i] = pick(output)
        return store


# ---- vision: Fashion-MNIST, mlp target, convnet guide ----

class Mlp(nn.Module):
    def __init__(self, depth=6, width=1024):
        super().__init__()
        layers, size = [], 784
        for _ in range(depth):
            layers.append(nn.Sequential(nn.Linear(size, width), nn.BatchNorm1d(width), nn.ReLU()))
            size = width
        self.hidden = nn.ModuleList(layers)
        self.head = nn.Linear(size, 10)

    def forward(self, x):
        x = x.flatten(1)
        for layer in self.hidden:
            x = layer(x)
        return self.head(x)


class ConvNet(nn.Module):
    def __init__(self, channels=(32, 64, 64, 128)):
        super().__init__()
        blocks, size = [], 1
        for i, c in enumerate(channels):
            block = [nn.Conv2d(size, c, 3, padding=1), nn.ReLU()]
            blocks.append(nn.Sequential(*block))
            size = c
        self.blocks = nn.ModuleList(blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(size, 10)

    def forward(self, x):
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i % 2 == 1:
                x = nn.functional.max_pool2d(x, 2)
        return self.head(self.pool(x).flatten(1))


def vision_pair():
    images = torch.from_numpy(read_idx(FASHION_MNIST).astype(np.float32) / 255.0).unsqueeze(1)
    labels = torch.from_numpy(read_idx(FASHION_MNIST_LABELS).astype(np.int64))
    target, guide = Mlp(), ConvNet()
    target_taps = Taps(list(target.hidden))
    guide_taps = Taps(list(guide.blocks) + [guide.pool])
    pairs = [(0, 0), (1, 1), (2, 2), (3, 4), (4, 5)]  # (guide tap, target tap)

    def batch(indices):
        return images[indices], labels[indices], None

    def task_loss(logits, targets, _mask):
        return nn.functional.cross_entropy(logits, targets)

    return images.shape[0], batch, target, guide, target_taps, guide_taps, pairs, task_loss


# ---- sequence: copy-paste, rnn target, transformer guide ----

PAD, COPY, END, CONTENT = 0, 1, 2, 4


def copy_paste(count, content_vocab=10, min_length=5, max_length=20, seed=0):
    rng = np.random.default_rng(seed)
    width = 2 * max_length + 2
    tokens = np.zeros((count, width), dtype=np.int64)
    targets = np.full((count, width), -1, dtype=np.int64)
    for i in range(count):
        k = rng.integers(min_length, max_length + 1)
        content = rng.integers(CONTENT, CONTENT + content_vocab, size=k)
        row = np.concatenate([content, [COPY], content, [END]])
        tokens[i, :len(row)] = row
        targets[i, k:2 * k + 1] = row[k + 1:2 * k + 2]  # next tokens on the answer
    return torch.from_numpy(tokens), torch.from_numpy(targets), CONTENT + content_vocab


class Rnn(nn.Module):
    def __init__(self, vocab, layers=2, embedding=64, hidden=256):
        super().__init__()
        self.embedding = nn.Embedding(vocab, embedding)
        self.layers = nn.ModuleList(
            nn.RNN(embedding if i == 0 else hidden, hidden, batch_first=True) for i in range(layers))
        self.head = nn.Linear(hidden, vocab)

    def forward(self, tokens):
        x = self.embedding(tokens)
        for layer in self.layers:
            x = layer(x)[0]
        return self.head(x)


class Block(nn.Module):
    """Pre-norm block, attention by scaled dot products, as the workbench's transformer."""

    def __init__(self, width, heads, hidden):
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv, self.out = nn.Linear(width, 3 * width), nn.Linear(width, width)
        self.feed_forward = nn.Sequential(nn.Linear(width, hidden), nn.GELU(),
                                          nn.Linear(hidden, width))

    def forward(self, x, allowed):
        b, l, d = x.shape
        qkv = self.qkv(self.norm1(x)).view(b, l, 3, self.heads, d // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        scores = (q @ k.transpose(-2, -1)) / (d // self.heads) ** 0.5
        scores = scores.masked_fill(~allowed.unsqueeze(1), float("-inf"))
        mixed = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, l, d)
        x = x + self.out(mixed)
        return x + self.feed_forward(self.norm2(x))


class Transformer(nn.Module):
    def __init__(self, vocab, length, layers=2, width=256, heads=4, hidden=512):
        super().__init__()
        self.embedding = nn.Embedding(vocab, width)
        self.positions = nn.Parameter(torch.randn(length, width) * 0.02)
        self.blocks = nn.ModuleList(Block(width, heads, hidden) for _ in range(layers))
        self.norm, self.head = nn.LayerNorm(width), nn.Linear(width, vocab)

    def forward(self, tokens):
        mask = tokens != PAD
        l = tokens.shape[1]
        allowed = mask.unsqueeze(1).expand(-1, l, -1) & torch.ones(l, l, dtype=torch.bool).tril()
        allowed = allowed | torch.eye(l, dtype=torch.bool)
        x = self.embedding(tokens) + self.positions[:l]
        for block in self.blocks:
            x = block(x, allowed)
        return self.head(self.norm(x))


def sequence_pair():
    tokens, targets, vocab = copy_paste(10000)
    target, guide = Rnn(vocab), Transformer(vocab, tokens.shape[1])
    target_taps = Taps(list(target.layers), pick=lambda output: output[0])
    guide_taps = Taps([block.feed_forward for block in guide.blocks])
    pairs = [(0, 0), (1, 1)]

    def batch(indices):
        t = tokens[indices]
        return t, targets[indices], t != PAD

    def task_loss(logits, y, _mask):
        return nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten(), ignore_index=-1)

    return tokens.shape[0], batch, target, guide, target_taps, guide_taps, pairs, task_loss


def flat(tap, mask):
    if mask is not None and tap.dim() == 3:
        tap = tap * mask.unsqueeze(-1)
    return tap.flatten(1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pair", choices=["vision", "sequence"])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--unguided", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--precision", choices=["32", "bf16-mixed"], default="32")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    size, batch, target, guide, target_taps, guide_taps, pairs, task_loss = (
        vision_pair() if args.pair == "vision" else sequence_pair())
    guide.eval()
    for p in guide.parameters():
        p.requires_grad_(False)
    optimizer = torch.optim.Adam(target.parameters(), lr=1e-3)
    batch_size, alpha = 256, 1.0
    order = torch.randperm(size)
    mixed = args.precision == "bf16-mixed"

    def autocast():
        if mixed:
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def as_float32(tensor):
        return tensor.float() if mixed else tensor

    def step(i):
        start = (i * batch_size) % (size - size % batch_size)
        inputs, y, mask = batch(order[start:start + batch_size])
        with autocast():
            logits = target(inputs)
        loss = task_loss(as_float32(logits), y, mask)
        if not args.unguided:
            with torch.no_grad(), autocast():
                guide(inputs)
            for g, t in pairs:
                x = flat(as_float32(target_taps.outputs[t]), mask)
                z = flat(as_float32(guide_taps.outputs[g]), mask)
                loss = loss + alpha * (1 - linear_cka(x, z))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    for i in range(args.warmup):
        step(i)
    begin = time.perf_counter()
    for i in range(args.steps):
        step(args.warmup + i)
    elapsed = time.perf_counter() - begin
    print(f"steps_per_s {args.steps / elapsed:.4f}")


if __name__ == "__main__":
    main()
