#!/usr/bin/python3
"""Writes the fixtures of ReleasedLossTest into OUTDIR for the paper's guided pairs named (all
when none is): each pair trained for STEPS steps by the released method re-implemented in plain
PyTorch (released_reference.py), on twins of the paper's networks at small sizes (dropout 0, so
two processes can agree draw for draw), and

  P.toml         the workbench config of the same pair (its plugins, the released defaults of
                 [guidance], the optimiser), which the test validates and assembles as a run is
  P.target.pt    the target's initial parameters and buffers under the workbench's names
  P.guide.pt     the guide's (batch-norm statistics moved off their initial values, so a guide
                 in eval mode uses them)
  P.expected.pt  a plain dict: step<k>.{inputs,mask,targets,target_mask} the batches in the
                 workbench's layout; steps; float64 (whether both sides run in double); guidance, task (step 1's terms); pair_count and
                 pair.<k> (each score the released dict keeps, k the position of its target tap
                 among the extractor's taps, i.e. among the workbench's module taps); grad.<parameter> (step 1's target gradient, after any clipping);
                 buffer.<name> (the target's buffers after step 1); trajectory (each step's
                 task + α·guidance); horizon (the leading steps of the trajectory that a run
                 from weights one rounding unit away reproduces: the steps worth comparing)

    make_pair_fixtures.py OUTDIR [PAIR...]
"""
import copy
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures as networks  # noqa: E402
import released_reference as released  # noqa: E402

STEPS = 20
ALPHA = 1.0
TRAJECTORY_TOLERANCE = 1e-3  # ReleasedLossTest's kTrajectoryTolerance
LM_VOCAB, LM_WINDOW = 40, 24

# name: (task, target network, target params, guide network, guide params, batch size,
#        optimiser, extra [train] lines). The pairs in FLOAT64 run in double precision on both
# sides: 48 or 50 batch-normalised layers on batches of 16 amplify float32 rounding until two
# correct implementations part after a few Adam steps.
PAIRS = {
    "deep-fcn-resnet18": ("image", "deep-fcn", networks.fcn(48, 24, 40),
                          "resnet18", networks.resnet("resnet18", 8), 16, "adam", ""),
    "wide-fcn-resnet18": ("image", "wide-fcn", networks.fcn(3, 64),
                          "resnet18", networks.resnet("resnet18", 8), 16, "adam", ""),
    "plain50-resnet50": ("image", "plain-resnet50",
                         networks.resnet("resnet50", 4, residual=False, init="pytorch"),
                         "resnet50", networks.resnet("resnet50", 4), 16, "adam", ""),
    "copy-paste-rnn-transformer": ("copy-paste", "cp-rnn", networks.rnn("lm", "rnn", 16, 32, 4),
                                   "cp-decoder", networks.transformer("decoder", 32, 4, 4, 32),
                                   12, "adamw", ""),
    "parity-transformer-rnn": ("parity", "parity-encoder",
                               networks.transformer("encoder", 32, 4, 2, 64),
                               "parity-rnn", networks.rnn("parity", "rnn", 3, 32, 2), 12,
                               "adamw", ""),
    "lm-rnn-transformer": ("next-word", "lm-rnn", networks.rnn("lm", "rnn", 16, 32, 2),
                           "lm-transformer", networks.transformer("lm", 32, 4, 2, 64), 12,
                           "adamw", "grad_clip = 0.25\n"),
}

FLOAT64 = {"deep-fcn-resnet18", "plain50-resnet50"}

# The token tasks as the workbench's datasets declare them (vocabulary, length).
TASKS = {
    "image": networks.image_task(),
    "copy-paste": networks.COPY_TASK,
    "parity": networks.PARITY_TASK,
    "next-word": networks.lm_task(LM_VOCAB, LM_WINDOW),
}


def dataset_table(task, directory):
    """The [dataset] table whose task the pair's networks are built for."""
    if task == "image":
        return 'plugin = "fashion-mnist"\ntrain_subset = 200\nvalidation_size = 50\n'
    if task == "copy-paste":
        return 'plugin = "copy-paste"\ntrain_size = 64\nvalidation_size = 16\ntest_size = 16\n'
    if task == "parity":
        return 'plugin = "parity"\ntrain_size = 64\nvalidation_size = 16\ntest_size = 16\n'
    # A corpus of LM_VOCAB - 3 distinct words: with <eol>, <unk> and the padding id, the text
    # dataset's vocabulary has LM_VOCAB ids.
    words = [f"w{i}" for i in range(LM_VOCAB - 3)]
    with open(os.path.join(directory, "corpus.txt"), "w") as corpus:
        for repeat in range(40):
            corpus.write(" ".join(words[repeat % 7:] + words[:repeat % 7]) + "\n")
    return (f'plugin = "text"\npath = "corpus.txt"\nunit = "word"\ncontext = {LM_WINDOW}\n'
            f'validation_fraction = 0.1\ntest_fraction = 0.1\n')


def toml_table(params):
    lines = []
    for key, value in params.items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, str):
            text = f'"{value}"'
        else:
            text = repr(value)
        lines.append(f"{key} = {text}")
    return "\n".join(lines) + "\n"


def write_config(path, pair, directory):
    task, target, target_params, guide, guide_params, batch, optimiser, train_extra = PAIRS[pair]
    weight_decay = "weight_decay = 0.01\n" if optimiser == "adamw" else ""
    with open(path, "w") as config:
        config.write(
            f'[run]\nname = "{pair}"\nseed = 0\noutput = "out"\n\n'
            f"[dataset]\n{dataset_table(task, directory)}\n"
            f'[target]\nplugin = "{networks.NETWORKS[target][0]}"\n{toml_table(target_params)}\n'
            f'[guide]\nplugin = "{networks.NETWORKS[guide][0]}"\n{toml_table(guide_params)}\n'
            f'[guide.init]\nplugin = "untrained"\n\n'
            f"[guidance]\nalpha = {ALPHA}\n\n"
            f'[train]\noptimizer = "{optimiser}"\nlearning_rate = 0.001\n{weight_decay}'
            f"batch_size = {batch}\nepochs = 1\n{train_extra}")


def twin(network, params, task):
    return networks.NETWORKS[network][1](params, task)


def move_batch_norm_statistics(model, generator):
    """Running statistics off their initial 0 and 1, so eval-mode batch norm is not identity."""
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.running_mean.copy_(0.1 * torch.randn(module.running_mean.shape,
                                                        generator=generator))
            module.running_var.copy_(0.5 + torch.rand(module.running_var.shape,
                                                      generator=generator))


def released_batch(task, size, generator):
    """A batch in the released layout (released_reference's keys)."""
    if task == "image":
        return {"input_ids": torch.randn(size, 1, 28, 28, generator=generator),
                "labels": torch.randint(0, released.IMAGE_CLASSES, (size,), generator=generator)}
    if task == "copy-paste":
        return released.copy_paste_batch(size, generator)
    if task == "parity":
        return released.parity_batch(size, generator)
    return released.language_batch(size, LM_WINDOW, LM_VOCAB, generator)


def workbench_batch(task, batch):
    """The same batch as the workbench's Batch: inputs, mask, targets, target_mask."""
    inputs = batch["input_ids"]
    if task == "image":
        return {"inputs": inputs, "targets": batch["labels"]}
    if task == "copy-paste":
        targets = batch["target_ids"]
        return {"inputs": inputs, "mask": batch["mask"], "targets": targets,
                "target_mask": targets != 0}
    if task == "parity":
        return {"inputs": inputs, "mask": batch["mask"], "targets": batch["target_ids"][:, 0]}
    targets = torch.zeros_like(inputs)
    targets[:, :-1] = inputs[:, 1:]
    target_mask = torch.ones_like(inputs, dtype=torch.bool)
    target_mask[:, -1] = False
    return {"inputs": inputs, "mask": batch["mask"], "targets": targets,
            "target_mask": target_mask}


def train(pair, target, guide, batches, expected=None):
    """Trains `target` as the released scripts do on `batches` (released layout), filling
    `expected` with step 1's terms, scores, gradient and buffers when given.
    @return each step's task + alpha * guidance"""
    task, target_name, _, _, _, _, optimiser, extra = PAIRS[pair]
    if optimiser == "adam":
        optimizer = torch.optim.Adam(target.parameters(), lr=1e-3)
    else:
        optimizer = torch.optim.AdamW(target.parameters(), lr=1e-3, weight_decay=0.01)
    trajectory = []
    for step, batch in enumerate(batches):
        first = expected is not None and step == 0
        if first:
            # The scores the released dict keeps, on a copy (its forward moves batch norm).
            scratch = copy.deepcopy(target)
            scores = released.layermap_scores(scratch, guide, batch["input_ids"],
                                              batch["input_ids"], batch.get("lengths"))
            order = list(released.extract_taps(scratch, batch["input_ids"], eval=False))
            expected["pair_count"] = torch.tensor(len(scores))
            for name, score in scores.items():
                expected[f"pair.{order.index(name)}"] = score.detach()
        total, guidance, task_loss = released.released_step_loss(task, target, guide, batch,
                                                                 ALPHA)
        optimizer.zero_grad()
        total.backward()
        if "grad_clip" in extra:
            torch.nn.utils.clip_grad_norm_(target.parameters(), max_norm=0.25)
        if first:
            # After clipping: the gradient the optimiser steps with, as the workbench keeps it.
            expected["guidance"] = guidance.detach()
            expected["task"] = task_loss.detach()
            gradients = {name: p.grad for name, p in target.named_parameters()}
            for name, gradient in released.to_workbench(target_name, gradients).items():
                expected[f"grad.{name}"] = gradient
        optimizer.step()
        if first:
            for name, buffer in released.to_workbench(target_name,
                                                      dict(target.named_buffers())).items():
                expected[f"buffer.{name}"] = buffer
        trajectory.append(total.item())
    return trajectory


def horizon(trajectory, perturbed):
    """@return how many leading steps a run from weights one rounding unit away stays within a
    tenth of the test's tolerance: beyond it the trajectory is chaotic, and two correct
    implementations cannot be told apart from two incorrect ones."""
    for step, (value, other) in enumerate(zip(trajectory, perturbed)):
        if abs(value - other) > 0.1 * TRAJECTORY_TOLERANCE * max(1.0, abs(value)):
            return step
    return len(trajectory)


def write_pair(directory, pair):
    task, target_name, target_params, guide_name, guide_params, batch_size, _, _ = PAIRS[pair]
    write_config(os.path.join(directory, pair + ".toml"), pair, directory)
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(1)
    task_spec = TASKS[task]
    target = twin(target_name, target_params, task_spec)
    guide = twin(guide_name, guide_params, task_spec)
    with torch.no_grad():
        move_batch_norm_statistics(guide, generator)
    positions = task_spec.get("length")  # the workbench keeps this many rows of a sinusoid table
    torch.save(released.to_workbench(target_name, target.state_dict(), positions),
               os.path.join(directory, pair + ".target.pt"))
    torch.save(released.to_workbench(guide_name, guide.state_dict(), positions),
               os.path.join(directory, pair + ".guide.pt"))
    double = pair in FLOAT64
    dtype = torch.float64 if double else torch.float32
    released.CKA_DTYPE = dtype
    target.to(dtype)
    guide.to(dtype)
    for parameter in guide.parameters():
        parameter.requires_grad_(False)
    # Released modes: image guides in eval mode; sequence guides never leave train mode.
    guide.train(task != "image")
    target.train()

    expected = {"steps": torch.tensor(STEPS), "float64": torch.tensor(double)}
    batches = []
    for step in range(STEPS):
        batch = released_batch(task, batch_size, generator)
        for key, value in workbench_batch(task, batch).items():
            expected[f"step{step}.{key}"] = value
        if batch["input_ids"].is_floating_point():
            batch["input_ids"] = batch["input_ids"].to(dtype)
        batches.append(batch)
    perturbed = copy.deepcopy(target)
    with torch.no_grad():
        for parameter in perturbed.parameters():
            parameter.mul_(1 + torch.finfo(dtype).eps)
    trajectory = train(pair, target, guide, batches, expected)
    expected["trajectory"] = torch.tensor(trajectory, dtype=torch.float64)
    expected["horizon"] = torch.tensor(horizon(trajectory, train(pair, perturbed, guide, batches)))
    torch.save(expected, os.path.join(directory, pair + ".expected.pt"))


def main():
    directory = sys.argv[1]
    os.makedirs(directory, exist_ok=True)
    torch.set_num_threads(1)
    for pair in sys.argv[2:] or list(PAIRS):
        write_pair(directory, pair)


if __name__ == "__main__":
    main()
