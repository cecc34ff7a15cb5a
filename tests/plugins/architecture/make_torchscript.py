#!/usr/bin/python3
"""Writes the TorchScript fixtures of the `torchscript` architecture tests into OUTDIR, with
Debian's python3-torch (the same LibTorch as the workbench), following the convention of
docs/architectures.md ("torchscript"):

  cnn.pt          scripted CNN for Fashion-MNIST (1x28x28, 10 classes), taps conv1, conv2, pool
  cnn3.pt         the same for 3x32x32 images (the contract checks' image task)
  resnet.pt       a small ResNet written as torchvision's (stem, BasicBlocks with identity and
                  projection shortcuts, batch norm), for Fashion-MNIST; taps after each stage and
                  the pooled features, as docs/architectures.md's ResNet-18 wrapper
  traced_mlp.pt   a traced MLP (1x28x28) inside a scripted wrapper that names its taps
  tokens.pt       scripted token network (embedding, GRU; class logits), taps embedding, hidden
                  (sequences) and pooled (flat, listed in guidance_flat_taps)
  expected.pt     inputs and the outputs PyTorch computed for them, as buffers of one module
  cnn_state.pt    torch.save(dict(state_dict)) of a freshly seeded Cnn(1) (weights trained in
                  PyTorch, as the `checkpoint` guide-init reads them); cnn3_state.pt the same for
                  Cnn(3); cnn_ordered_state.pt the OrderedDict itself, which LibTorch cannot read

    make_torchscript.py OUTDIR
"""
import sys
from typing import Dict, List, Tuple

import torch
from torch import nn

torch.manual_seed(0)


class Cnn(nn.Module):
    guidance_taps: List[str]
    guidance_inputs: str

    def __init__(self, channels: int, classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.head = nn.Linear(16, classes)
        self.guidance_taps = ["conv1", "conv2", "pool"]
        self.guidance_inputs = "image"

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        conv1 = torch.relu(self.conv1(x))
        conv2 = torch.relu(self.conv2(nn.functional.max_pool2d(conv1, 2)))
        pool = conv2.mean(dim=(2, 3))
        return self.head(pool), {"conv1": conv1, "conv2": conv2, "pool": pool}


class BasicBlock(nn.Module):
    """torchvision's BasicBlock: two 3x3 convolutions with batch norm, and a shortcut that is
    the identity or, where the shape changes, a strided 1x1 convolution with batch norm."""

    def __init__(self, inputs: int, outputs: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(inputs, outputs, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(outputs)
        self.conv2 = nn.Conv2d(outputs, outputs, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(outputs)
        self.downsample = nn.Identity()
        if stride != 1 or inputs != outputs:
            self.downsample = nn.Sequential(nn.Conv2d(inputs, outputs, 1, stride, bias=False),
                                            nn.BatchNorm2d(outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.downsample(x))


class TinyResNet(nn.Module):
    guidance_taps: List[str]
    guidance_inputs: str

    def __init__(self, classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.layer1 = nn.Sequential(BasicBlock(8, 8, 1), BasicBlock(8, 8, 1))
        self.layer2 = nn.Sequential(BasicBlock(8, 16, 2), BasicBlock(16, 16, 1))
        self.fc = nn.Linear(16, classes)
        self.guidance_taps = ["layer1", "layer2", "pool"]
        self.guidance_inputs = "image"

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        x = nn.functional.max_pool2d(torch.relu(self.bn1(self.conv1(x))), 2)
        layer1 = self.layer1(x)
        layer2 = self.layer2(layer1)
        pool = torch.flatten(nn.functional.adaptive_avg_pool2d(layer2, 1), 1)
        return self.fc(pool), {"layer1": layer1, "layer2": layer2, "pool": pool}


def with_running_statistics(net: nn.Module, images: torch.Tensor) -> nn.Module:
    """Batch norm's running statistics moved off their initial 0 and 1 by a few training-mode
    passes, so the C++ side must use them (not the batch's) in eval mode to match."""
    net.train()
    with torch.no_grad():
        for _ in range(3):
            net(images)
    return net.eval()


class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor):
        hidden = torch.relu(self.fc1(x.flatten(1)))
        return self.fc2(hidden), {"fc1": hidden}


class TracedWrapper(nn.Module):
    """A traced body keeps no Python attributes: a scripted wrapper names its taps."""
    guidance_taps: List[str]

    def __init__(self, body):
        super().__init__()
        self.body = body
        self.guidance_taps = ["fc1"]

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        return self.body(x)


class Tokens(nn.Module):
    guidance_taps: List[str]
    guidance_flat_taps: List[str]
    guidance_inputs: str

    def __init__(self, vocabulary: int = 4, width: int = 16, classes: int = 2):
        super().__init__()
        self.embedding = nn.Embedding(vocabulary, width)
        self.rnn = nn.GRU(width, width, batch_first=True)
        self.head = nn.Linear(width, classes)
        self.guidance_taps = ["embedding", "hidden", "pooled"]
        self.guidance_flat_taps = ["pooled"]
        self.guidance_inputs = "tokens"

    def forward(self, tokens: torch.Tensor,
                mask: torch.Tensor) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        embedded = self.embedding(tokens)
        hidden, _ = self.rnn(embedded)
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        return self.head(pooled), {"embedding": embedded, "hidden": hidden, "pooled": pooled}


class Tensors(nn.Module):
    def __init__(self, tensors: Dict[str, torch.Tensor]):
        super().__init__()
        for name, tensor in tensors.items():
            self.register_buffer(name, tensor)

    def forward(self) -> int:
        return 0


def main(out: str) -> None:
    expected = {}
    cnn = torch.jit.script(Cnn(1).eval())
    cnn.save(f"{out}/cnn.pt")
    torch.jit.script(Cnn(3).eval()).save(f"{out}/cnn3.pt")
    image = torch.randn(3, 1, 28, 28)
    logits, taps = cnn(image)
    expected.update(image=image, cnn_logits=logits.detach(),
                    **{f"cnn_{name}": tap.detach() for name, tap in taps.items()})

    resnet = torch.jit.script(with_running_statistics(TinyResNet(), torch.randn(16, 1, 28, 28)))
    resnet.save(f"{out}/resnet.pt")
    logits, taps = resnet(image)
    expected.update(resnet_logits=logits.detach(),
                    **{f"resnet_{name}": tap.detach() for name, tap in taps.items()})

    mlp = Mlp().eval()
    traced = torch.jit.trace(mlp, image, strict=False)
    wrapped = torch.jit.script(TracedWrapper(traced))
    wrapped.save(f"{out}/traced_mlp.pt")
    logits, taps = wrapped(image)
    expected.update(traced_logits=logits.detach(), traced_fc1=taps["fc1"].detach())

    tokens_net = torch.jit.script(Tokens().eval())
    tokens_net.save(f"{out}/tokens.pt")
    tokens = torch.randint(0, 4, (3, 6))
    mask = torch.tensor([[True] * 6, [True] * 3 + [False] * 3, [True] + [False] * 5])
    logits, taps = tokens_net(tokens, mask)
    expected.update(tokens=tokens, mask=mask, tokens_logits=logits.detach(),
                    **{f"tokens_{name}": tap.detach() for name, tap in taps.items()})
    state = Cnn(1).state_dict()
    # A plain dict: LibTorch's reader cannot rebuild the OrderedDict state_dict() returns.
    torch.save(dict(state), f"{out}/cnn_state.pt")
    torch.save(state, f"{out}/cnn_ordered_state.pt")
    torch.save(dict(Cnn(3).state_dict()), f"{out}/cnn3_state.pt")
    expected.update(state_conv1_weight=state["conv1.weight"])
    torch.jit.script(Tensors(expected)).save(f"{out}/expected.pt")


if __name__ == "__main__":
    main(sys.argv[1])
