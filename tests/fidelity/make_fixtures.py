#!/usr/bin/python3
"""Writes the fixtures of PresetTwinsTest into OUTDIR: for each paper network N below, the
released structure built in plain PyTorch (released_reference.py) at small sizes, and

  N.weights.pt   its parameters and buffers under the workbench plugin's names
                 (torch.save of a plain dict, what Checkpoint.h's load_weights reads)
  N.expected.pt  a plain dict:
                   plugin, params, task             the workbench plugin and the parameters and
                                                    task that build the same network
                   input, mask (tokens: true on real positions), logits
                   tap.<i>, tap_name.<i>            the released extractor's i-th tap (train mode,
                                                    no grad, dropout 0) and its released name
                   tap_count, param_count
                   paper_params, paper_task, paper_tap_count, paper_param_count
                                                    the same at the paper's sizes
                   paper_note                       where the paper sizes are not the paper's
                   dtype                            "float32", or "float64" where float32
                                                    rounding grows past any tolerance (the Deep
                                                    FCN's 48 batch-normalised layers amplify it
                                                    ~1.3x per layer): weights are saved in
                                                    float32, network and input then converted
                   constants                        buffers in N.weights.pt that the workbench
                                                    computes itself (sinusoid tables), to be
                                                    compared before loading; names separated by
                                                    spaces (LibTorch's unpickler has no APPEND)

The paper sizes: Deep FCN and ResNets as released (imagenet-comparison/); the sequence networks
at the language scripts' sizes (language_modeling/{args,language_model}.py: guides d_model 512,
16 heads, 4 layers; students embedding 256, hidden 512, 4 layers; the next-word vocabulary is
bert-base-cased's, 28996 ids, windows of 256). The Wide FCN at width 8192 has 141 M parameters:
its paper structure is checked at width 1024. Images are 1x28x28 with 10 classes throughout.

    make_fixtures.py OUTDIR [NETWORK ...]   (default: every network; each seeded on its own)
    make_fixtures.py --list                 the networks, one a line
"""
import os
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import released_reference as released  # noqa: E402

IMAGE_BATCH = 8
TOKEN_BATCH = 5  # differs from every length and width below, so the extractor finds the batch axis
PAPER_IMAGE_BATCH = 4
PAPER_TOKEN_BATCH = 3
NEXT_WORD_VOCAB, NEXT_WORD_WINDOW = 28996, 256  # bert-base-cased; --context_length


def image_task():
    return {"kind": "image", "channels": 1, "side": 28, "outputs": released.IMAGE_CLASSES}


def token_task(name, vocab, length, outputs, target, pad=0):
    return {"kind": "tokens", "name": name, "vocab": vocab, "length": length, "outputs": outputs,
            "target": target, "pad": pad}


COPY_TASK = token_task("copy-paste", released.COPY_VOCAB, 82, released.COPY_VOCAB, "token")
PARITY_TASK = token_task("parity", released.PARITY_VOCAB, 50, 2, "class", released.PARITY_PAD)


def lm_task(vocab, length):
    return token_task("text", vocab, length, vocab, "token")


def fcn(depth, width, first_width=0, dropout=0.0):
    return {"depth": depth, "width": width, "first_width": first_width, "batch_norm": True,
            "dropout": dropout, "activation": "relu"}


def resnet(preset, base_width, residual=True, init="torchvision"):
    return {"preset": preset, "base_width": base_width, "stem": "imagenet",
            "residual": residual, "weight_init": init}


def transformer(variant, width, heads, layers, feed_forward, dropout=0.0):
    return {"variant": variant, "width": width, "heads": heads, "layers": layers,
            "feed_forward": feed_forward, "dropout": dropout}


def rnn(variant, cell, embedding, hidden, layers):
    return {"variant": variant, "cell": cell, "embedding": embedding, "hidden": hidden,
            "layers": layers}


def resnet_twin(p, _task):
    if not p["residual"]:
        return released.ModifiedResNet50(p["base_width"])
    return (released.resnet18 if p["preset"] == "resnet18" else released.resnet50)(p["base_width"])


def decoder_twin(p, task):
    return released.Transformer(task["vocab"], p["width"], p["heads"], p["layers"],
                                p["feed_forward"], p["dropout"])


def encoder_twin(p, task):
    return released.TransEnc(task["vocab"], p["width"], p["heads"], p["layers"], p["dropout"],
                             p["feed_forward"], p["dropout"])


def lm_twin(p, task):
    return released.TransformerLM(task["vocab"], p["width"], p["heads"], p["layers"],
                                  task["length"], p["feed_forward"], p["dropout"])


def rnnlm_twin(p, task):
    return released.RNNLM("LSTM" if p["cell"] == "lstm" else "RNN", task["vocab"],
                          p["embedding"], p["hidden"], p["layers"])


def parity_rnn_twin(p, task):
    return released.ParityRNN(task["vocab"], p["embedding"], p["hidden"], p["layers"])


# name: (plugin, twin factory, small params, small task, paper params, paper task, note)
NETWORKS = {
    "deep-fcn": ("mlp", lambda p, t: released.NarrowMLP(p["depth"], p["first_width"], p["width"],
                                                        p["dropout"]),
                 fcn(48, 24, 40), image_task(), fcn(48, 1024, 2048, 0.1), image_task(), ""),
    "wide-fcn": ("mlp", lambda p, t: released.ShallowMLP(p["depth"], p["width"]),
                 fcn(3, 64), image_task(), fcn(3, 1024), image_task(),
                 "paper structure at width 1024, not 8192 (141 M parameters)"),
    "resnet18": ("resnet", resnet_twin, resnet("resnet18", 8), image_task(),
                 resnet("resnet18", 64), image_task(), ""),
    "resnet50": ("resnet", resnet_twin, resnet("resnet50", 8), image_task(),
                 resnet("resnet50", 64), image_task(), ""),
    "plain-resnet50": ("resnet", resnet_twin, resnet("resnet50", 8, False, "pytorch"),
                       image_task(), resnet("resnet50", 64, False, "pytorch"), image_task(), ""),
    "cp-decoder": ("released-transformer", decoder_twin, transformer("decoder", 32, 4, 2, 48),
                   COPY_TASK, transformer("decoder", 512, 16, 4, 512, 0.1), COPY_TASK, ""),
    "cp-rnn": ("released-rnn", rnnlm_twin, rnn("lm", "rnn", 16, 24, 3), COPY_TASK,
               rnn("lm", "rnn", 256, 512, 4), COPY_TASK, ""),
    "parity-encoder": ("released-transformer", encoder_twin, transformer("encoder", 32, 4, 2, 48),
                       PARITY_TASK, transformer("encoder", 512, 16, 4, 2048, 0.1), PARITY_TASK,
                       "heads 16 (args.py's default 12 does not divide 512); counts do not "
                       "depend on heads"),
    "parity-rnn": ("released-rnn", parity_rnn_twin, rnn("parity", "rnn", 3, 24, 2), PARITY_TASK,
                   rnn("parity", "rnn", 3, 512, 4), PARITY_TASK, ""),
    "lm-transformer": ("released-transformer", lm_twin, transformer("lm", 32, 4, 2, 48),
                       lm_task(50, 16), transformer("lm", 512, 16, 4, 2048, 0.1),
                       lm_task(NEXT_WORD_VOCAB, NEXT_WORD_WINDOW), ""),
    "lm-rnn": ("released-rnn", rnnlm_twin, rnn("lm", "rnn", 16, 24, 3), lm_task(50, 16),
               rnn("lm", "rnn", 256, 512, 4), lm_task(NEXT_WORD_VOCAB, NEXT_WORD_WINDOW), ""),
    "lm-lstm": ("released-rnn", rnnlm_twin, rnn("lm", "lstm", 16, 24, 3), lm_task(50, 16),
                rnn("lm", "lstm", 256, 512, 4), lm_task(NEXT_WORD_VOCAB, NEXT_WORD_WINDOW), ""),
}


# Networks compared in float64 (see dtype above).
FLOAT64 = {"deep-fcn"}


def perturb_norms(model: nn.Module):
    """Normalisation scales and shifts drawn away from 1 and 0, so that a swapped or missing
    one shows in the outputs."""
    for module in model.modules():
        if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm)):
            with torch.no_grad():
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0.0, 0.1)


def batch_for(task, size, generator):
    if task["kind"] == "image":
        return {"input_ids": torch.randn(size, task["channels"], task["side"], task["side"],
                                         generator=generator)}
    if task["name"] == "copy-paste":
        return released.copy_paste_batch(size, generator)
    if task["name"] == "parity":
        return released.parity_batch(size, generator)
    return released.language_batch(size, task["length"], task["vocab"], generator)


def forward(model, batch):
    """@return (logits, taps) of the released extractor, train mode, no grad; the length
    keyword only where the network takes it (ParityRNN), as the released guide call."""
    keywords = {"lengths": batch["lengths"]} if isinstance(model, released.ParityRNN) else {}
    model.train()
    with torch.no_grad():
        output = model(batch["input_ids"], **keywords)
    logits = output[0] if isinstance(output, tuple) else output
    return logits, released.extract_taps(model, batch["input_ids"], eval=True, **keywords)


def parameter_count(model):
    return sum(p.numel() for p in model.parameters())


def make(name, index, outdir):
    plugin, twin, params, task, paper_params, paper_task, note = NETWORKS[name]
    torch.manual_seed(1000 + index)
    generator = torch.Generator().manual_seed(2000 + index)
    model = twin(params, task)
    perturb_norms(model)
    weights = released.to_workbench(name, model.state_dict(), task.get("length"))
    torch.save(weights, os.path.join(outdir, f"{name}.weights.pt"))
    batch = batch_for(task, IMAGE_BATCH if task["kind"] == "image" else TOKEN_BATCH, generator)
    dtype = "float64" if name in FLOAT64 else "float32"
    if dtype == "float64":
        model.double()
        batch["input_ids"] = batch["input_ids"].double()
    logits, taps = forward(model, batch)

    paper = twin(paper_params, paper_task)
    _, paper_taps = forward(paper, batch_for(
        paper_task, PAPER_IMAGE_BATCH if task["kind"] == "image" else PAPER_TOKEN_BATCH,
        generator))

    expected = {"plugin": plugin, "params": params, "task": task, "input": batch["input_ids"],
                "logits": logits, "tap_count": len(taps), "param_count": parameter_count(model),
                "paper_params": paper_params, "paper_task": paper_task,
                "paper_tap_count": len(paper_taps), "paper_param_count": parameter_count(paper),
                "paper_note": note, "dtype": dtype,
                "constants": " ".join(n for n in weights if n.startswith("pos_encoder."))}
    if "mask" in batch:
        expected["mask"] = batch["mask"]
    for i, (tap_name, tap) in enumerate(taps.items()):
        expected[f"tap.{i}"] = tap.contiguous()
        expected[f"tap_name.{i}"] = tap_name
    torch.save(expected, os.path.join(outdir, f"{name}.expected.pt"))
    print(f"{name}: {len(taps)} taps, {parameter_count(model)} parameters; paper "
          f"{len(paper_taps)} taps, {parameter_count(paper)} parameters")


def main():
    if sys.argv[1:] == ["--list"]:
        print("\n".join(NETWORKS))
        return
    if len(sys.argv) < 2 or any(name not in NETWORKS for name in sys.argv[2:]):
        sys.exit(__doc__)
    torch.set_num_threads(1)
    os.makedirs(sys.argv[1], exist_ok=True)
    for index, name in enumerate(NETWORKS):
        if len(sys.argv) == 2 or name in sys.argv[2:]:
            make(name, index, sys.argv[1])


if __name__ == "__main__":
    main()
