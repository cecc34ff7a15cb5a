#!/usr/bin/python3
"""The method and networks of "Training the Untrainable" (arXiv 2410.20035) as the authors'
released PyTorch code (github.com/vsubramaniam851/untrainable-networks) computes them, written
anew in plain PyTorch (Debian's python3-torch 1.13, no torchvision) from the released semantics.

This file is the workbench's statement of the released method; the fidelity tests compare the C++
workbench against it. Each piece names the released file it restates:

  networks        imagenet-comparison/{mlp,resnet_arch}.py, torchvision's ResNet (the guides),
                  language_modeling/{transformer,rnn_models}.py: class structure and parameter
                  names as released, sizes configurable, inputs 1x28x28 / 10 classes for images
  to_workbench    state dict of a twin -> the workbench plugin's parameter names
  extract_taps    rep_sim/layer_extract.py (FeatureMapExtractor)
  layer_map       rep_sim/layer_sim.py (layer_supervision)
  linear_cka      rep_sim/rep_sims.py (CKA.linear_CKA)
  noise_like      rep_sim/rep_sim_loss.py (create_rand_inputs)
  rep_similarity_loss  rep_sim/{rep_sim_loss,layer_sim}.py (rep_similarity_loss, layermap_sim)
  task losses     imagenet-comparison/image_class.py, language_modeling/language_model.py
  data formats    language_modeling/{copy_paste,parity}.py

Released behaviour worth knowing, kept here on purpose:
  * The extractor hooks modules of EXACTLY these types (subclasses such as attention's
    out_proj do not count): Conv2d, Linear, AdaptiveAvgPool2d, LSTM, RNN,
    TransformerDecoderLayer, LayerNorm, MultiheadAttention; the last recorded entry (the head)
    is dropped.
  * The guide runs under no_grad in whatever mode it is in: the image script puts its guide in
    eval mode, the language script never does (its guides run with dropout on).
  * The target's taps come from a SECOND forward of the target (the first gave the task loss),
    called without keyword arguments (no `lengths`).
  * Scores are keyed by the TARGET tap: when several guide taps map to one target tap, only the
    last one counts.
  * RNNLM with LSTM cells runs each layer through torch.utils.checkpoint (reentrant); the hooked
    outputs are the very tensors the checkpoint returns, so gradients still reach the layers.
"""
import math
from collections import OrderedDict
from typing import Dict, List, Optional

import torch
from torch import nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

IMAGE_FEATURES = 28 * 28
IMAGE_CLASSES = 10

# ----------------------------------------------------------------------------------------------
# Fully connected networks (imagenet-comparison/mlp.py)


class NarrowMLP(nn.Module):
    """ImageNetNarrowMLP, the Deep FCN: an initial Linear-BN-ReLU-Dropout of `first_width`, then
    `depth - 1` more of `width`, then a linear head. Released: depth 48, 2048 then 1024, p=0.1."""

    def __init__(self, depth=48, first_width=2048, width=1024, dropout=0.1,
                 in_features=IMAGE_FEATURES, classes=IMAGE_CLASSES):
        super().__init__()
        self.flatten = nn.Flatten()
        self.initial_layer = nn.Sequential(nn.Linear(in_features, first_width),
                                           nn.BatchNorm1d(first_width), nn.ReLU(),
                                           nn.Dropout(dropout))
        self.intermediate_layers = nn.Sequential(*[
            nn.Sequential(nn.Linear(first_width if i == 0 else width, width),
                          nn.BatchNorm1d(width), nn.ReLU(), nn.Dropout(dropout))
            for i in range(depth - 1)])
        self.output_layer = nn.Sequential(nn.Linear(width, classes))

    def forward(self, x):
        return self.output_layer(self.intermediate_layers(self.initial_layer(self.flatten(x))))


class ShallowMLP(nn.Module):
    """ImageNetShallowMLP, the Wide FCN: `depth` Linear-BN-ReLU of `width` in one Sequential
    `layers`, whose last entry is the head. Released: depth 3, width 8192."""

    def __init__(self, depth=3, width=8192, in_features=IMAGE_FEATURES, classes=IMAGE_CLASSES):
        super().__init__()
        self.flatten = nn.Flatten()
        body = []
        for i in range(depth):
            body += [nn.Linear(in_features if i == 0 else width, width), nn.BatchNorm1d(width),
                     nn.ReLU()]
        self.layers = nn.Sequential(*body, nn.Linear(width, classes))

    def forward(self, x):
        return self.layers(self.flatten(x))


# ----------------------------------------------------------------------------------------------
# ResNets: torchvision's ResNet-18/-50 (the image guides) and the released ModifiedResNet50


class BasicBlock(nn.Module):
    """torchvision's BasicBlock: 3x3 (stride) - BN - ReLU - 3x3 - BN, plus the shortcut."""
    expansion = 1

    def __init__(self, inputs, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(inputs, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _projection(inputs, planes, stride)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """torchvision's Bottleneck v1.5: 1x1 - 3x3 (stride) - 1x1 (x4), each with BN, plus the
    shortcut, which is computed after the main path."""
    expansion = 4

    def __init__(self, inputs, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(inputs, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _projection(inputs, planes * 4, stride)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


def _projection(inputs, outputs, stride):
    if stride == 1 and inputs == outputs:
        return None
    return nn.Sequential(nn.Conv2d(inputs, outputs, 1, stride, bias=False),
                         nn.BatchNorm2d(outputs))


class ResNet(nn.Module):
    """torchvision's ResNet (the released image guides, `torchvision.models.resnet18/50`), with
    its initialisation (convolutions He-normal fan-out, BN 1/0), for `in_channels` inputs;
    `base_width` is the stem's channels (64 in torchvision)."""

    def __init__(self, block, blocks, base_width=64, in_channels=1, classes=IMAGE_CLASSES):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, base_width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(base_width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        channels = base_width
        for stage, count in enumerate(blocks):
            planes = base_width * 2 ** stage
            layer = []
            for index in range(count):
                layer.append(block(channels, planes, 2 if stage > 0 and index == 0 else 1))
                channels = planes * block.expansion
            setattr(self, f"layer{stage + 1}", nn.Sequential(*layer))
        self.stages = len(blocks)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(channels, classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.constant_(module.weight, 1)
                nn.init.constant_(module.bias, 0)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for stage in range(self.stages):
            x = getattr(self, f"layer{stage + 1}")(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet18(base_width=64):
    return ResNet(BasicBlock, [2, 2, 2, 2], base_width)


def resnet50(base_width=64):
    return ResNet(Bottleneck, [3, 4, 6, 3], base_width)


class ModifiedBottleneck(nn.Module):
    """The released plain bottleneck: ReLU(BN(conv3(ReLU(BN(conv2(ReLU(BN(conv1(x))))))))), the
    stride on the 3x3, no shortcut at all."""
    expansion = 4

    def __init__(self, inputs, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(inputs, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)))


class ModifiedResNet50(nn.Module):
    """The released ModifiedResNet50 (the paper's deep ConvNet): ResNet-50's layout without any
    residual path, PyTorch's default initialisation."""

    def __init__(self, base_width=64, in_channels=1, classes=IMAGE_CLASSES):
        super().__init__()
        self.in_channels = base_width
        self.conv1 = nn.Conv2d(in_channels, base_width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(base_width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(base_width, 3)
        self.layer2 = self._make_layer(base_width * 2, 4, 2)
        self.layer3 = self._make_layer(base_width * 4, 6, 2)
        self.layer4 = self._make_layer(base_width * 8, 3, 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(base_width * 8 * 4, classes)

    def _make_layer(self, planes, count, stride=1):
        layer = [ModifiedBottleneck(self.in_channels, planes, stride)]
        self.in_channels = planes * 4
        layer += [ModifiedBottleneck(self.in_channels, planes) for _ in range(1, count)]
        return nn.Sequential(*layer)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


# ----------------------------------------------------------------------------------------------
# Sequence networks (language_modeling/{transformer,rnn_models}.py). Each returns
# (logits, hidden) as released; logits are [B, L, V] or [B, classes].


class PositionalEncoding(nn.Module):
    """Fixed sinusoids (sin on even, cos on odd features) added to [B, L, D], then dropout."""

    def __init__(self, d_model, dropout=0.1, max_len=5000):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        position = torch.arange(max_len).unsqueeze(1)
        frequency = torch.exp(torch.arange(0, d_model, 2).float() * -(math.log(10000.0) / d_model))
        table = torch.zeros(max_len, d_model)
        table[:, 0::2] = torch.sin(position * frequency)
        table[:, 1::2] = torch.cos(position * frequency)
        self.register_buffer("pe", table.unsqueeze(0))

    def forward(self, x):
        return self.dropout(x + self.pe[:, :x.size(1)])


class Transformer(nn.Module):
    """The released copy-paste `Transformer`: embedding x sqrt(D), sinusoids, ONE
    TransformerDecoderLayer (batch first, post-norm, ReLU) applied `num_layers` times as
    layer(x, x, tgt_mask=causal): causal self-attention, then unmasked cross-attention to the
    layer's own input; a linear head. No padding mask."""

    def __init__(self, vocab_size, d_model=768, nhead=32, num_layers=4, dim_feedforward=2048,
                 dropout=0.1):
        super().__init__()
        self.d_model = d_model
        self.embed = nn.Embedding(vocab_size, d_model)
        self.pos_encoder = PositionalEncoding(d_model, dropout)
        layer = nn.TransformerDecoderLayer(d_model, nhead, dim_feedforward, dropout,
                                           batch_first=True)
        self.decoder = nn.ModuleList([layer for _ in range(num_layers)])
        self.final_layer = nn.Linear(d_model, vocab_size)

    def forward(self, x, hidden=None, **kwargs):
        length = x.shape[1]
        x = self.pos_encoder(self.embed(x) * math.sqrt(self.d_model))
        causal = torch.full((length, length), float("-inf")).triu(1)
        for layer in self.decoder:
            x = layer(x, x, tgt_mask=causal)
        return self.final_layer(x), (torch.zeros(self.d_model),)


class TransEnc(nn.Module):
    """The released parity `TransEnc`: embedding (unscaled), sinusoids, ONE
    TransformerEncoderLayer applied `num_encoder_layers` times with the padding mask
    token == 2, mean over real positions, a 2-way head. Released, the encoder layer has
    PyTorch's defaults (feed-forward 2048, dropout 0.1); both are parameters here."""

    def __init__(self, vocab_size, d_model, nhead, num_encoder_layers, dropout=0.1,
                 dim_feedforward=2048, layer_dropout=0.1):
        super().__init__()
        self.d_model = d_model
        self.embedding = nn.Embedding(vocab_size, d_model)
        self.pos_encoder = PositionalEncoding(d_model, dropout)
        layer = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, layer_dropout,
                                           batch_first=True)
        self.encoder = nn.ModuleList([layer for _ in range(num_encoder_layers)])
        self.output_layer = nn.Linear(d_model, 2)

    def forward(self, x, hidden=None, **kwargs):
        padding = x == 2
        x = self.pos_encoder(self.embedding(x))
        for layer in self.encoder:
            x = layer(x, src_key_padding_mask=padding)
        real = (~padding).unsqueeze(-1)
        pooled = (x * real.float()).sum(1) / real.sum(1).clamp(min=1)
        return self.output_layer(pooled), (torch.zeros(self.d_model),)


class TransformerLM(nn.Module):
    """The released next-word `TransformerLM`, sequence-first inside: token + learned position
    embeddings, per layer h = LN1(h); h = h + MHA(h, causal); h = LN2(h); h = h + FF(h)
    (LayerNorm eps 1e-12), a linear head. Initialisation as released: Linear, Embedding and
    LayerNorm weights N(0, 0.02), biases 0."""

    def __init__(self, vocab_size, d_model=768, nhead=16, num_layers=4, seq_len=50,
                 dim_feedforward=2048, dropout=0.1):
        super().__init__()
        self.tokens_embeddings = nn.Embedding(vocab_size, d_model)
        self.position_embeddings = nn.Embedding(seq_len, d_model)
        self.dropout = nn.Dropout(dropout)
        self.d_model = d_model
        self.attentions, self.feed_forwards = nn.ModuleList(), nn.ModuleList()
        self.layer_norms_1, self.layer_norms_2 = nn.ModuleList(), nn.ModuleList()
        for _ in range(num_layers):
            self.attentions.append(nn.MultiheadAttention(d_model, nhead, dropout=dropout))
            self.feed_forwards.append(nn.Sequential(nn.Linear(d_model, dim_feedforward), nn.ReLU(),
                                                    nn.Linear(dim_feedforward, d_model)))
            self.layer_norms_1.append(nn.LayerNorm(d_model, eps=1e-12))
            self.layer_norms_2.append(nn.LayerNorm(d_model, eps=1e-12))
        self.lm_head = nn.Linear(d_model, vocab_size)
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding, nn.LayerNorm)):
                module.weight.data.normal_(0.0, 0.02)
            if isinstance(module, (nn.Linear, nn.LayerNorm)) and module.bias is not None:
                module.bias.data.zero_()

    def forward(self, x, hidden=None, **kwargs):
        x = x.transpose(0, 1).contiguous()
        positions = torch.arange(len(x)).unsqueeze(-1)
        h = self.tokens_embeddings(x)
        h = self.dropout(h + self.position_embeddings(positions).expand_as(h))
        causal = torch.full((len(x), len(x)), float("-inf"), dtype=h.dtype).triu(1)
        for norm_1, attention, norm_2, feed_forward in zip(
                self.layer_norms_1, self.attentions, self.layer_norms_2, self.feed_forwards):
            h = norm_1(h)
            h = self.dropout(attention(h, h, h, attn_mask=causal, need_weights=False)[0]) + h
            h = norm_2(h)
            h = self.dropout(feed_forward(h)) + h
        return self.lm_head(h).permute(1, 0, 2), (torch.zeros(self.d_model),)


class RNNLM(nn.Module):
    """The released `RNNLM`: embedding, `num_layers` single-layer nn.RNN (tanh) or nn.LSTM
    (`rnn_model == 'LSTM'`, each run through reentrant checkpointing) in a ModuleList, each
    starting from the previous layer's final hidden state (zeros for the first); a linear head
    at every position."""

    def __init__(self, rnn_model, vocab_size, embedding_dim, hidden_dim, num_layers):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        cell = nn.LSTM if rnn_model == "LSTM" else nn.RNN
        self.rnn = nn.ModuleList([cell(embedding_dim if i == 0 else hidden_dim, hidden_dim,
                                       num_layers=1, batch_first=True)
                                  for i in range(num_layers)])
        self.fc1 = nn.Linear(hidden_dim, vocab_size)
        self.hidden_dim = hidden_dim
        self.rnn_model = rnn_model

    def forward(self, x, hidden=None, **kwargs):
        if hidden is None:
            zeros = torch.zeros(1, x.shape[0], self.hidden_dim)
            hidden = (zeros, zeros.clone())
        x = self.embedding(x)
        for layer in self.rnn:
            if self.rnn_model == "LSTM":
                x, hidden = checkpoint(layer, x, hidden)
            else:
                start = hidden[0].unsqueeze(0) if hidden[0].dim() == 2 else hidden[0]
                x, last = layer(x, start)
                hidden = tuple(last)  # one [B, H] per layer: the next layer's start
        return self.fc1(x), hidden


class ParityRNN(nn.Module):
    """The released `ParityRNN`: embedding (vocab x embedding_dim; released embedding_dim =
    vocab), one multi-layer nn.RNN (named `lstm`) over the packed real positions (`lengths`),
    the output at the last real position through ReLU and a 2-way head."""

    def __init__(self, vocab_size, embedding_dim, hidden_dim, num_layers):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.RNN(embedding_dim, hidden_dim, num_layers, batch_first=True)
        self.fc = nn.Linear(hidden_dim, 2)
        self.relu = nn.ReLU()
        self.num_layers = num_layers
        self.hidden_dim = hidden_dim

    def forward(self, x, hidden=None, **kwargs):
        lengths = kwargs["lengths"]
        start = torch.zeros(self.num_layers, x.size(0), self.hidden_dim)
        packed = nn.utils.rnn.pack_padded_sequence(self.embedding(x), lengths.cpu(),
                                                   batch_first=True, enforce_sorted=False)
        packed_out, hidden = self.lstm(packed, start)
        out, _ = nn.utils.rnn.pad_packed_sequence(packed_out, batch_first=True)
        last = (lengths - 1).view(-1, 1, 1).expand(-1, -1, out.shape[-1])
        return self.fc(self.relu(out.gather(1, last).squeeze(1))), tuple(hidden)


# ----------------------------------------------------------------------------------------------
# State dicts in the workbench's names


def to_workbench(network: str, state_dict, positions: Optional[int] = None
                 ) -> Dict[str, torch.Tensor]:
    """@return the state dict (parameters and buffers) of the twin of `network` (a name of
    make_fixtures.NETWORKS) under the workbench plugin's names, as a plain dict of tensors, what
    Checkpoint.h's load_weights reads. The copies of a repeated Transformer layer are one layer.
    The sinusoid table `pos_encoder.pe` (5000 rows released) keeps its first `positions` rows,
    as the workbench sizes it by the task's maximum length; without `positions` it is left
    out."""
    names = list(state_dict)
    if network == "wide-fcn":
        head = max(int(name.split(".")[1]) for name in names)
    out = {}
    for name in names:
        parts = name.split(".")
        if network == "deep-fcn":
            if parts[0] == "initial_layer":
                name = f"layer1.{_FCN_PART[parts[1]]}.{parts[2]}"
            elif parts[0] == "intermediate_layers":
                name = f"layer{int(parts[1]) + 2}.{_FCN_PART[parts[2]]}.{parts[3]}"
            else:
                name = f"head.{parts[2]}"
        elif network == "wide-fcn":
            index = int(parts[1])
            name = (f"head.{parts[2]}" if index == head
                    else f"layer{index // 3 + 1}.{_FCN_PART[str(index % 3)]}.{parts[2]}")
        elif parts[0] == "pos_encoder":
            if positions is not None:
                out[name] = state_dict[name][:, :positions].clone()
            continue
        elif network in ("cp-decoder", "parity-encoder") and parts[0] in ("decoder", "encoder"):
            if parts[1] != "0":
                continue
            name = ".".join([parts[0]] + parts[2:])
        out[name] = state_dict[".".join(parts)].detach().clone()
    return out


_FCN_PART = {"0": "linear", "1": "norm"}


# ----------------------------------------------------------------------------------------------
# The released extractor (rep_sim/layer_extract.py)

RETAINED_TYPES = (nn.Conv2d, nn.Linear, nn.AdaptiveAvgPool2d, nn.LSTM, nn.RNN,
                  nn.TransformerDecoderLayer, nn.LayerNorm, nn.MultiheadAttention)


def extract_taps(model: nn.Module, inputs: torch.Tensor, eval: bool = True,
                 **kwargs) -> "OrderedDict[str, torch.Tensor]":
    """The released FeatureMapExtractor.get_feature_maps.

    A forward hook on every module but Sequential/ModuleList (registered as Module.apply visits
    them, so a layer repeated in one ModuleList is hooked once and records every application)
    records the output of modules whose type is exactly one of RETAINED_TYPES, named
    `{Type}_{number of entries so far}`. A tuple output is split into `{name}-1`, `{name}-2`, ...
    (RNN/LSTM drop their final hidden state first; None parts, such as attention weights not
    asked for, record nothing). A PackedSequence is padded (batch first). A tensor whose first
    axis is the batch is kept; else, when exactly one axis equals the batch size, that axis is
    swapped to the front; else the entry is None. Finally the last entry is dropped (the head)
    and the None entries are removed.

    `eval`: run under no_grad with `kwargs` passed to the model (the guide); otherwise run with
    grad and WITHOUT kwargs (the target), as released.

    In eval mode under no_grad, PyTorch 1.13's fast path of TransformerEncoderLayer skips its
    submodules, so a TransEnc records no taps at all; the released scripts never run one so
    (TransEnc is only a target, and the language guides stay in train mode).
    """
    batch = inputs.shape[0]
    maps: "OrderedDict[str, Optional[torch.Tensor]]" = OrderedDict()

    def record(name, output):
        if isinstance(output, nn.utils.rnn.PackedSequence):
            output, _ = nn.utils.rnn.pad_packed_sequence(output, batch_first=True)
        if not isinstance(output, torch.Tensor):
            return
        if output.shape[0] == batch:
            maps[name] = output
        elif list(output.shape).count(batch) == 1:
            maps[name] = torch.swapaxes(output, 0, list(output.shape).index(batch))
        else:
            maps[name] = None

    def hook(module, _inputs, output):
        kind = type(module)
        if kind not in RETAINED_TYPES:
            return
        name = f"{kind.__name__}_{len(maps)}"
        if isinstance(output, (tuple, list)):
            if kind in (nn.RNN, nn.LSTM):
                output = output[:-1]
            for index, part in enumerate(output):
                record(f"{name}-{index + 1}", part)
        else:
            record(name, output)

    handles = []

    def register(module):
        for child in module.children():
            register(child)
        if not isinstance(module, (nn.Sequential, nn.ModuleList)):
            handles.append(module.register_forward_hook(hook))

    register(model)
    try:
        if eval:
            with torch.no_grad():
                model(inputs, **kwargs)
        else:
            model(inputs)
    finally:
        for handle in handles:
            handle.remove()
    return OrderedDict((name, tap) for name, tap in list(maps.items())[:-1] if tap is not None)


# ----------------------------------------------------------------------------------------------
# The layer map, CKA and the guidance loss (rep_sim/{layer_sim,rep_sims,rep_sim_loss}.py)


def layer_map(guide_taps: List[str], target_taps: List[str]) -> Dict[str, str]:
    """The released layer_supervision: guide tap i -> target tap min(round(i * step), T - 1),
    step = (T - 1) / (G - 1), or 1 when G = 1. Python's round: halves to even."""
    guides, targets = len(guide_taps), len(target_taps)
    step = (targets - 1) / (guides - 1) if guides > 1 else 1
    return {guide: target_taps[min(round(i * step), targets - 1)]
            for i, guide in enumerate(guide_taps)}


def _centred(gram: torch.Tensor) -> torch.Tensor:
    n = gram.shape[0]
    centring = torch.eye(n, dtype=gram.dtype) - torch.ones(n, n, dtype=gram.dtype) / n
    return centring @ gram @ centring


def linear_hsic(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Biased HSIC of linear kernels: sum(H X X^T H * H Y Y^T H)."""
    return torch.sum(_centred(x @ x.T) * _centred(y @ y.T))


def linear_cka(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The released CKA.linear_CKA of [n, p] and [n, q]."""
    return linear_hsic(x, y) / (torch.sqrt(linear_hsic(x, x)) * torch.sqrt(linear_hsic(y, y)))


def noise_like(inputs: torch.Tensor) -> torch.Tensor:
    """The released create_rand_inputs, from the global RNG: float inputs -> clamp(randn +
    0.1 randn, 0, 1); int64 tokens -> uniform ids in [0, max(inputs)]."""
    if inputs.dtype == torch.float32:
        fresh = torch.randn(*inputs.shape)
        noise = torch.randn(*inputs.shape) * 0.1
        return torch.clamp(fresh + noise, 0.0, 1.0)
    if inputs.dtype == torch.long:
        return torch.randint(0, int(inputs.max().item()) + 1, inputs.shape)
    raise ValueError(f"inputs of type {inputs.dtype} cannot be replaced by noise")


# The released code casts the flattened taps to float32 before CKA. A test that runs both sides
# in float64 (to follow a chaotic deep network for many steps) sets this to torch.float64.
CKA_DTYPE = torch.float32


def layermap_scores(target: nn.Module, guide: nn.Module, inputs: torch.Tensor,
                    guide_inputs: torch.Tensor, lengths: Optional[torch.Tensor] = None,
                    token_sim: bool = False) -> "OrderedDict[str, torch.Tensor]":
    """The released layermap_sim with CKA: the guide's taps (extract_taps, eval: no_grad, its
    current mode, `lengths` passed when given) on `guide_inputs`, the target's (a forward with
    grad, no kwargs) on `inputs`, the layer map from guide to target taps, and per mapped pair
    1 - CKA: on taps flattened to [B, -1] in float32, or (token_sim) summed over positions of
    [B, L, D] taps. @return the scores keyed by TARGET tap (a later pair overwrites)."""
    guide_taps = extract_taps(guide, guide_inputs, eval=True,
                              **({} if lengths is None else {"lengths": lengths}))
    target_taps = extract_taps(target, inputs, eval=False)
    scores: "OrderedDict[str, torch.Tensor]" = OrderedDict()
    for guide_name, target_name in layer_map(list(guide_taps), list(target_taps)).items():
        guide_tap, target_tap = guide_taps[guide_name], target_taps[target_name]
        assert guide_tap.shape[0] == target_tap.shape[0]
        if token_sim:
            scores[target_name] = torch.stack(
                [1 - linear_cka(target_tap[:, i, :], guide_tap[:, i, :])
                 for i in range(target_tap.shape[1])]).sum()
        else:
            batch = inputs.size(0)
            scores[target_name] = 1 - linear_cka(
                target_tap.contiguous().view(batch, -1).to(CKA_DTYPE),
                guide_tap.contiguous().view(batch, -1).to(CKA_DTYPE))
    return scores


def rep_similarity_loss(target: nn.Module, guide: nn.Module, inputs: torch.Tensor,
                        lengths: Optional[torch.Tensor] = None, use_noise: bool = False,
                        token_sim: bool = False) -> torch.Tensor:
    """The released guidance loss: the sum of layermap_scores, the guide fed noise_like(inputs)
    when `use_noise` (the target always sees `inputs`)."""
    guide_inputs = noise_like(inputs) if use_noise else inputs
    scores = layermap_scores(target, guide, inputs, guide_inputs, lengths, token_sim)
    return torch.sum(torch.stack(list(scores.values())))


# ----------------------------------------------------------------------------------------------
# Task losses and one training step's loss (image_class.py, language_model.py)


def image_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over the classes."""
    return F.cross_entropy(logits, labels)


def copy_paste_loss(logits: torch.Tensor, target_ids: torch.Tensor) -> torch.Tensor:
    """Cross-entropy at every position against the position-aligned targets, ignoring id 0
    (the padding and the prompt positions; the digit 0 too, as released)."""
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), target_ids.reshape(-1),
                           ignore_index=0)


def parity_loss(logits: torch.Tensor, target_ids: torch.Tensor) -> torch.Tensor:
    """BCEWithLogits of the 2 logits against one_hot(parity), averaged over batch x 2."""
    one_hot = F.one_hot(target_ids.squeeze(), num_classes=2).float().squeeze()
    return F.binary_cross_entropy_with_logits(logits, one_hot)


def next_word_loss(logits: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of position t's logits against token t + 1 (ignore_index -1)."""
    shifted = logits[..., :-1, :].contiguous()
    return F.cross_entropy(shifted.view(-1, shifted.size(-1)),
                           input_ids[..., 1:].contiguous().view(-1), ignore_index=-1)


def released_step_loss(task: str, target: nn.Module, guide: nn.Module, batch: dict,
                       alpha: float = 1.0, use_noise: bool = False):
    """One released training step's loss for `task` ("image", "copy-paste", "parity",
    "next-word"): the target's forward (train mode) gives the task loss, then
    rep_similarity_loss runs the guide and the target's second forward.
    @return (task + alpha * guidance, guidance, task)."""
    inputs = batch["input_ids"]
    lengths = batch.get("lengths")
    if task == "image":
        task_loss = image_loss(target(inputs), batch["labels"])
    else:
        logits, _ = target(inputs, hidden=None, lengths=lengths)
        if task == "copy-paste":
            task_loss = copy_paste_loss(logits, batch["target_ids"])
        elif task == "parity":
            task_loss = parity_loss(logits, batch["target_ids"])
        else:
            task_loss = next_word_loss(logits, inputs)
    guidance = rep_similarity_loss(target, guide, inputs, lengths=lengths, use_noise=use_noise)
    return task_loss + alpha * guidance, guidance, task_loss


# ----------------------------------------------------------------------------------------------
# Released data formats (copy_paste.py, parity.py); `mask` is true on real positions.

COPY_DIGITS = 10
COPY_TOKEN, EOS_TOKEN, COPY_VOCAB = COPY_DIGITS + 1, COPY_DIGITS + 2, COPY_DIGITS + 3
PARITY_PAD, PARITY_VOCAB = 2, 3


def copy_paste_batch(size: int, generator: torch.Generator, min_length: int = 20,
                     max_length: int = 40) -> dict:
    """Per example S ~ U{min_length..max_length} digits in [0, 10): input
    `digits COPY 0 x S EOS`, target `0 x (S + 1) digits EOS`, both padded with 0."""
    inputs, targets = [], []
    for _ in range(size):
        length = int(torch.randint(min_length, max_length + 1, (1,), generator=generator))
        digits = torch.randint(0, COPY_DIGITS, (length,), generator=generator)
        zeros = torch.zeros(length, dtype=torch.long)
        inputs.append(torch.cat([digits, torch.tensor([COPY_TOKEN]), zeros,
                                 torch.tensor([EOS_TOKEN])]))
        targets.append(torch.cat([torch.zeros(length + 1, dtype=torch.long), digits,
                                  torch.tensor([EOS_TOKEN])]))
    lengths = torch.tensor([len(x) for x in inputs])
    return {"input_ids": nn.utils.rnn.pad_sequence(inputs, batch_first=True, padding_value=0),
            "target_ids": nn.utils.rnn.pad_sequence(targets, batch_first=True, padding_value=0),
            "mask": _mask(lengths)}


def parity_batch(size: int, generator: torch.Generator, max_bits: int = 50) -> dict:
    """Per example n ~ U{2..max_bits} random bits, padded with 2; target [B, 1] the parity."""
    bits = [torch.randint(0, 2, (int(torch.randint(2, max_bits + 1, (1,), generator=generator)),),
                          generator=generator) for _ in range(size)]
    lengths = torch.tensor([len(b) for b in bits])
    return {"input_ids": nn.utils.rnn.pad_sequence(bits, batch_first=True,
                                                   padding_value=PARITY_PAD),
            "target_ids": torch.stack([b.sum().remainder(2).view(1) for b in bits]),
            "lengths": lengths, "mask": _mask(lengths)}


def language_batch(size: int, length: int, vocab: int, generator: torch.Generator) -> dict:
    """Random token windows [B, length] (the next-word task's inputs are windows of text)."""
    return {"input_ids": torch.randint(0, vocab, (size, length), generator=generator),
            "mask": torch.ones(size, length, dtype=torch.bool)}


def _mask(lengths: torch.Tensor) -> torch.Tensor:
    return torch.arange(int(lengths.max())).unsqueeze(0) < lengths.unsqueeze(1)
