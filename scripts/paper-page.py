#!/usr/bin/python3
"""Writes results/paper/README.md, the paper's findings beside ours, from the study records of
configs/paper/ (results/paper-runs/) with the workbench's own tools: `guidance summarize --tune
train.learning_rate` for every number, `guidance analyze report|compare|consistency` for every
picture. scripts/paper.sh runs the studies first; this script only reads their records.

    /usr/bin/python3 scripts/paper-page.py [--runs results/paper-runs] [--page results/paper]
        [--configs configs/paper] [--cli build/bin/guidance] [--only STUDY,...]

--only writes the findings of those studies alone (the smoke test, tests/paper/, does). A study
is summarised only once every run its config (in --configs, its records in --runs) names is done;
until then its section says how many are.

Verdicts follow one rule, decided before any study ran (see VERDICT_RULE below), applied to the
95 % Welch interval of the difference the paper's claim is about, and are given only where the
study's premise, declared beside its claims and measured from its own cells, is met and every
compared cell has at least MIN_SEEDS seeds (PREMISE_RULE); each claim states the smallest effect
it could have detected with 80 % power (detectable_effect). The page keeps the page folder's
earlier-settings.md, the verdicts of settings tried before, in a section of its own. Standard
library only.
"""
import argparse
import csv
import functools
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib

CLI = "build/bin/guidance"
TUNED = "train.learning_rate"

VERDICT_RULE = """A claim is **reproduced** when the 95 % Welch interval of the difference lies
wholly on the side the paper claims; **not reproduced** when it lies wholly on the other side, or
when it lies inside ± the stated margin of practical equivalence (no effect of a size worth the
name); **inconclusive** otherwise (the interval straddles 0 and reaches beyond the margin). Each
finding's verdict is that of its first claim; the others are shown beside it."""

PREMISE_RULE = """Each study opens with its **premise**: the starting condition the paper's claim needs
(a gap for guidance to close, a guide that can do the task), declared beside the claims and
measured by the same study's cells. A comparison holds when the 95 % Welch interval of the
difference lies wholly on the stated side and the difference is at least the stated minimum; a
level holds when the 95 % t interval of the cell's mean lies wholly beyond the stated level. A
claim gets a verdict only where its study's premise is met: otherwise the verdict reads **premise
not met**, or **premise not measured** where the study has no cell to measure it. A claim gets
none either while either of its cells has fewer than 5 seeds (**n < 5: too few to decide**).
Every claim states the smallest difference its cells could have detected: with 80 % power in a
two-sided Welch test at α = 0.05, MDE = (t(0.975, df) + t(0.8, df)) · sqrt(s1²/n1 + s2²/n2),
df by Welch–Satterthwaite, at the observed standard deviations s1, s2 and seeds n1, n2; an
inconclusive claim thus rules out effects of about that size or more."""

MIN_SEEDS = 5
ALPHA = 0.05
POWER = 0.8

# What the paper reports, as the papernotes.org write-up of the NeurIPS 2025 version transcribes
# its main results tables (ImageNet top-5 validation accuracy in %, sequence accuracy in %,
# perplexity; mean ± std over 5 seeds). The arXiv tables themselves were not at hand to check.
PAPER_SOURCE = ("papernotes.org, \"Training the Untrainable\" (NeurIPS 2025 version), sections "
                "\"Main Results: Image Classification (ImageNet Top-5)\" and \"Main Results: "
                "Sequence Modeling\"; https://en.papernotes.org/NeurIPS2025/others/"
                "training_the_untrainable_introducing_inductive_bias_via_representational_alignme/")


def claim(label, cell, measure, better, margin, baseline=None):
    """One difference the paper claims: `cell` (axis → value) against its baseline cell (the
    summarize default, each cell's unguided one, unless `baseline` names one)."""
    return dict(label=label, cell=cell, measure=measure, better=better, margin=margin,
                baseline=baseline)


def side(label, cell, measure):
    """One side of a premise condition: the cell (axis → value) and the measure read from it."""
    return dict(label=label, cell=cell, measure=measure)


def exceeds(a, b, min_gap=0.0, note=""):
    """Premise condition: side `a` above side `b` by at least `min_gap` (95 % Welch interval of
    a − b wholly above 0 and a − b ≥ min_gap)."""
    return dict(kind="compare", a=a, b=b, direction="above", min_gap=min_gap, note=note)


def falls_below(a, b, min_gap=0.0, note=""):
    """Premise condition: side `a` below side `b` by at least `min_gap`."""
    return dict(kind="compare", a=a, b=b, direction="below", min_gap=min_gap, note=note)


def level(a, direction, value, note=""):
    """Premise condition: side `a`'s mean beyond `value` (its 95 % t interval wholly above, or
    below, the level)."""
    return dict(kind="level", a=a, direction=direction, value=value, note=note)


def premise(text, *conditions):
    """A study's premise: what must hold for its claims to mean anything, every condition
    measured from the study's own summary rows."""
    return dict(text=text, conditions=list(conditions))


# Premise cells: every study of configs/paper/ has them. A study without them gets "premise not
# measured (no cell …)" and its verdicts withheld.
DEEP_FCN_ALONE = side("the Deep FCN unguided", {"target.plugin": "mlp", "guidance.enabled": "false"},
                      "test top1")
DEEP_FCN_PREMISE = premise(
    "the Deep FCN unguided barely trains (above chance, far below its guide) while the guide "
    "architecture, trained alone on the same data, trains well",
    level(DEEP_FCN_ALONE, "above", 0.1, note="chance: 10 classes"),
    exceeds(side("the guide architecture (ResNet) alone",
                 {"target.plugin": "resnet", "guidance.enabled": "false"}, "test top1"),
            DEEP_FCN_ALONE, min_gap=0.2))

WIDE_FCN_UNGUIDED = {"guidance.enabled": "false"}
WIDE_FCN_PREMISE = premise(
    "the Wide FCN unguided over-fits: its validation loss rises after its best while its "
    "training loss lies well below it",
    exceeds(side("unguided, at the end", WIDE_FCN_UNGUIDED, "last validation loss"),
            side("unguided, at its best", WIDE_FCN_UNGUIDED, "validation loss"),
            min_gap=0.05, note="the rise; two measures of the same runs compared as if "
                               "independent, which is conservative"),
    exceeds(side("unguided, at its best", WIDE_FCN_UNGUIDED, "validation loss"),
            side("unguided, at the best weights", WIDE_FCN_UNGUIDED, "train loss"),
            min_gap=0.1, note="the gap between validation and training loss"))

COPY_PASTE_TRANSFORMER = side("the Transformer alone",
                              {"target.plugin": "transformer", "guidance.enabled": "false"},
                              "test token_accuracy")
COPY_PASTE_PREMISE = premise(
    "the RNN unguided fails copy-paste while the Transformer solves it (the paper: 14 % vs 97 %)",
    level(COPY_PASTE_TRANSFORMER, "above", 0.9, note="solves"),
    exceeds(COPY_PASTE_TRANSFORMER,
            side("the RNN unguided",
                 {"target.plugin": "released-rnn", "guidance.enabled": "false"},
                 "test token_accuracy"), min_gap=0.3))

PARITY_RNN = side("the RNN (guide architecture) alone",
                  {"target.plugin": "released-rnn", "guidance.enabled": "false"}, "test top1")
PARITY_PREMISE = premise(
    "the RNN (the guide architecture, trained alone) solves parity and the Transformer alone "
    "does not (the paper: 100 % vs 72 %)",
    level(PARITY_RNN, "above", 0.9, note="solves"),
    exceeds(PARITY_RNN, side("the Transformer alone",
                             {"target.plugin": "released-transformer",
                              "guidance.enabled": "false"}, "test top1"), min_gap=0.1))

LANGUAGE_MODEL_PREMISE = premise(
    "the Transformer language model beats the RNN's (lower perplexity; the paper: 34 vs 69)",
    falls_below(side("the Transformer alone",
                     {"target.plugin": "released-transformer", "guidance.enabled": "false"},
                     "test perplexity"),
                side("the RNN unguided",
                     {"target.plugin": "released-rnn", "guidance.enabled": "false"},
                     "test perplexity")))

CONVNET_PREMISE = premise(
    "the plain deep ConvNet falls clearly short of its residual twin (the gap guidance is to "
    "close)",
    exceeds(side("the residual net unguided",
                 {"target.residual": "true", "guidance.enabled": "false"}, "test top1"),
            side("the plain net unguided",
                 {"target.residual": "false", "guidance.enabled": "false"}, "test top1"),
            min_gap=0.05))

# F8 and F9 read the same study: the trained guide must be worth distilling and agreeing with.
DISTILLATION_PREMISE = premise(
    "the guide is worth its name: the guide architecture trained alone beats the unguided "
    "target, so a trained guide has knowledge to distil and errors of its own to agree with",
    exceeds(side("the guide architecture (CNN) alone",
                 {"target.plugin": "convnet", "guidance.enabled": "false"}, "test top1"),
            side("the FCN unguided", {"target.plugin": "mlp", "guidance.enabled": "false"},
                 "test top1"), min_gap=0.02))

ACC_MARGIN = 0.005  # half a point of accuracy
LOSS_MARGIN = 0.01

# Both Deep FCN settings test the same claims.
DEEP_FCN_CLAIMS = [
    claim("untrained guide vs unguided", {"guide.init.plugin": "untrained"}, "test top1",
          "higher", ACC_MARGIN),
    claim("trained guide vs unguided", {"guide.init.plugin": "trained"}, "test top1", "higher",
          ACC_MARGIN),
    claim("untrained vs trained guide", {"guide.init.plugin": "untrained"}, "test top1",
          "higher", ACC_MARGIN, baseline="guide.init.plugin=trained"),
]

# Both Wide FCN settings: guidance throughout against the unguided FCN.
WIDE_FCN_CLAIMS = [
    claim("guided throughout vs unguided: validation loss at the end",
          {"guidance.enabled": "true", "guidance.guided_steps": "0"}, "last validation loss",
          "lower", LOSS_MARGIN),
    claim("guided throughout vs unguided: test accuracy (best weights)",
          {"guidance.enabled": "true", "guidance.guided_steps": "0"}, "test top1", "higher",
          ACC_MARGIN),
]



def early_guidance_claims(steps):
    """F7's claims for a study whose early-guidance cell is guided for its first `steps` steps."""
    return [
        claim(f"guided for {steps} steps vs unguided: validation loss at the end",
              {"guidance.guided_steps": str(steps)}, "last validation loss", "lower",
              LOSS_MARGIN),
        claim(f"guided for {steps} steps vs unguided: test accuracy (best weights)",
              {"guidance.guided_steps": str(steps)}, "test top1", "higher", ACC_MARGIN),
    ]


# Both deep ConvNet settings.
CONVNET_CLAIMS = [
    claim("trained residual guide vs unguided plain net", {"guide.init.plugin": "trained"},
          "test top1", "higher", ACC_MARGIN),
    claim("untrained residual guide vs unguided plain net",
          {"guide.init.plugin": "untrained", "guidance.enabled": "true"}, "test top1", "higher",
          ACC_MARGIN),
    claim("trained-guided plain net vs the ResNet (gap left)", {"guide.init.plugin": "trained"},
          "test top1", "higher", ACC_MARGIN,
          baseline="target.residual=true,target.weight_init=torchvision,guidance.enabled=false"),
]

# Both copy-paste settings.
COPY_PASTE_CLAIMS = [
    claim("untrained guide vs unguided RNN",
          {"guide.init.plugin": "untrained", "guidance.enabled": "true"}, "test token_accuracy",
          "higher", ACC_MARGIN),
    claim("trained guide vs unguided RNN", {"guide.init.plugin": "trained"},
          "test token_accuracy", "higher", ACC_MARGIN),
    claim("untrained vs trained guide",
          {"guide.init.plugin": "untrained", "guidance.enabled": "true"}, "test token_accuracy",
          "higher", ACC_MARGIN, baseline="guide.init.plugin=trained"),
]
COPY_PASTE_GAP = dict(reference={"target.plugin": "transformer"},
                      baseline={"target.plugin": "released-rnn", "guidance.enabled": "false"},
                      measure="test token_accuracy")

# Both parity settings.
PARITY_CLAIMS = [
    claim("trained RNN guide vs unguided Transformer", {"guide.init.plugin": "trained"},
          "test top1", "higher", ACC_MARGIN),
    claim("untrained RNN guide vs unguided Transformer",
          {"guide.init.plugin": "untrained", "guidance.enabled": "true"}, "test top1", "higher",
          ACC_MARGIN),
]
PARITY_GAP = dict(reference={"target.plugin": "released-rnn"},
                  baseline={"target.plugin": "released-transformer", "guidance.enabled": "false"},
                  measure="test top1")

# Both distillation settings.
DISTILLATION_CLAIMS = [
    claim("guidance vs distillation, both from the untrained guide",
          {"guidance.alpha": "1", "guide.init.plugin": "untrained"}, "test top1", "higher",
          ACC_MARGIN, baseline="guidance.alpha=0,guide.init.plugin=untrained"),
    claim("guidance vs distillation, both from the trained guide",
          {"guidance.alpha": "1", "guide.init.plugin": "trained"}, "test top1", "higher",
          ACC_MARGIN, baseline="guidance.alpha=0,guide.init.plugin=trained"),
    claim("untrained-guide guidance vs unguided",
          {"guidance.alpha": "1", "guide.init.plugin": "untrained"}, "test top1", "higher",
          ACC_MARGIN),
]
DISTILLATION_ATLAS = dict(rows="guide.init.plugin", cols="guidance.alpha",
                          only={"target.plugin": "mlp"})

# Both language-model settings.
LANGUAGE_MODEL_CLAIMS = [
    claim("trained Transformer guide vs unguided RNN", {"guide.init.plugin": "trained"},
          "test perplexity", "lower", 0.02),
    claim("untrained Transformer guide vs unguided RNN",
          {"guide.init.plugin": "untrained", "guidance.enabled": "true"}, "test perplexity",
          "lower", 0.02),
]
LANGUAGE_MODEL_GAP = dict(reference={"target.plugin": "released-transformer"},
                          baseline={"target.plugin": "released-rnn", "guidance.enabled": "false"},
                          measure="test perplexity")

FINDINGS = [
    dict(
        id="F1", title="A Deep FCN guided by a ResNet",
        paper_claim="trained and untrained guides both lift a Deep FCN that otherwise barely "
                    "trains; the untrained guide helps more",
        paper_rows=[("Deep FCN (unguided)", "1.65 ± 1.21"),
                    ("ResNet-18 → Deep FCN (trained guide)", "7.50 ± 1.51"),
                    ("untrained ResNet-18 → Deep FCN", "13.10 ± 0.72")],
        paper_metric="ImageNet top-5 validation accuracy, %",
        studies=[
            dict(name="f1-deep-fcn",
                 setting="48 layers (256, then 128 units) with batch normalisation and dropout "
                         "0.1, the released Deep FCN's form (48 layers, 2048 then 1024 units)",
                 premise=DEEP_FCN_PREMISE, claims=DEEP_FCN_CLAIMS,
                 pictures=["validation-loss", "validation-top1"], heatmaps=True),
            dict(name="f1-deep-fcn-32",
                 setting="32 layers (256, then 128 units) with batch normalisation and dropout "
                         "0.1; the guide architecture alone and the trained guides get 15 "
                         "epochs (the Deep FCN 6)",
                 premise=DEEP_FCN_PREMISE, claims=DEEP_FCN_CLAIMS,
                 pictures=["validation-loss", "validation-top1"], heatmaps=True),
        ]),
    dict(
        id="F2", title="A Wide FCN over-fits; guidance stops it",
        paper_claim="guidance stops the immediate over-fitting of a wide FCN",
        paper_rows=[("Wide FCN (unguided)", "34.09 ± 0.91"),
                    ("ResNet-18 → Wide FCN", "43.01 ± 0.92")],
        paper_metric="ImageNet top-5 validation accuracy, %",
        studies=[
            dict(name="f2-f7-wide-fcn",
                 setting="3 × 2048 units with batch normalisation (the released Wide FCN's form: "
                         "3 × 8192), 500 training images, 80 epochs",
                 premise=WIDE_FCN_PREMISE, claims=WIDE_FCN_CLAIMS,
                 pictures=["validation-loss", "train-loss", "validation-top1"], heatmaps=True),
            dict(name="f2-f7-wide-fcn-200-epochs",
                 setting="the same Wide FCN and 500 images, 200 epochs (the first study 80)",
                 premise=WIDE_FCN_PREMISE, claims=WIDE_FCN_CLAIMS,
                 pictures=["validation-loss", "train-loss", "validation-top1"], heatmaps=True),
        ]),
    dict(
        id="F3", title="A deep ConvNet without residuals guided by a ResNet",
        paper_claim="a plain deep CNN becomes competitive with ResNets (the paper: with a "
                    "trained guide)",
        paper_rows=[("Deep ConvNet (unguided)", "70.02 ± 1.52"),
                    ("ResNet-50 → Deep ConvNet (trained guide)", "78.91 ± 2.16")],
        paper_metric="ImageNet top-5 validation accuracy, %",
        studies=[
            dict(name="f3-deep-convnet",
                 setting="49 convolutions (12 + 12 basic blocks, 8 → 16 channels) without "
                         "residuals, PyTorch's default initialisation, 3 000 images",
                 premise=CONVNET_PREMISE, claims=CONVNET_CLAIMS,
                 pictures=["validation-loss", "train-loss", "validation-top1"]),
            dict(name="f3-deep-convnet-8-epochs",
                 setting="the same networks and 3 000 images; every cell and the trained guides "
                         "get 8 epochs (the first study 3)",
                 premise=CONVNET_PREMISE, claims=CONVNET_CLAIMS,
                 pictures=["validation-loss", "train-loss", "validation-top1"]),
        ]),
    dict(
        id="F4", title="An RNN on copy-paste guided by a Transformer",
        paper_claim="much of the RNN–Transformer gap closes; the untrained guide helps most",
        paper_rows=[("RNN (unguided)", "14.35 ± 0.01"), ("Transformer (unguided)", "96.98"),
                    ("Transformer → RNN (trained guide)", "23.27 ± 1.02"),
                    ("untrained Transformer → RNN", "42.56 ± 1.51")],
        paper_metric="copy-paste accuracy, %",
        studies=[
            dict(name="f4-copy-paste",
                 setting="the released RNN (2 Elman layers, 64 units), released format at lengths "
                         "10–20 (released: 20–40), a 2-block causal Transformer guide",
                 premise=COPY_PASTE_PREMISE, claims=COPY_PASTE_CLAIMS,
                 gap=COPY_PASTE_GAP,
                 pictures=["validation-loss", "validation-token_accuracy"], heatmaps=True),
        ]),
    dict(
        id="F5", title="A Transformer on parity guided by an RNN",
        paper_claim="a task RNNs find easy becomes easier for the Transformer",
        paper_rows=[("RNN (unguided)", "100"), ("Transformer (unguided)", "71.98 ± 3.16"),
                    ("RNN → Transformer", "78.49 ± 2.16")],
        paper_metric="parity accuracy, %",
        studies=[
            dict(name="f5-parity",
                 setting="the released TransEnc (width 64, 2 applications) and ParityRNN (64 "
                         "units), released format at lengths 2–16 (released: 2–50)",
                 premise=PARITY_PREMISE, claims=PARITY_CLAIMS, gap=PARITY_GAP,
                 pictures=["validation-loss", "validation-top1"], heatmaps=True),
            dict(name="f5-parity-20-epochs",
                 setting="the same networks and lengths; every cell and the trained guides get "
                         "20 epochs (the first study 10)",
                 premise=PARITY_PREMISE, claims=PARITY_CLAIMS, gap=PARITY_GAP,
                 pictures=["validation-loss", "validation-top1"], heatmaps=True),
        ]),
    dict(
        id="F6", title="An RNN language model guided by a Transformer",
        paper_claim="perplexity falls toward the Transformer's",
        paper_rows=[("RNN (unguided)", "69.19 ± 1.89 (Small), 89.13 ± 2.00 (Large)"),
                    ("Transformer (unguided)", "34.15 (Small), 33.10 (Large)"),
                    ("Transformer → RNN (trained guide)", "40.01 ± 1.54, 36.91 ± 1.04"),
                    ("untrained Transformer → RNN", "59.61 ± 2.33, 47.17 ± 2.50")],
        paper_metric="WikiText-103 perplexity (word pieces), lower is better",
        studies=[
            dict(name="f6-language-model",
                 setting="by words (2 000 most frequent, windows of 64), released format; the "
                         "released RNNLM (128 units) and TransformerLM (2 layers, width 64)",
                 premise=LANGUAGE_MODEL_PREMISE, claims=LANGUAGE_MODEL_CLAIMS,
                 gap=LANGUAGE_MODEL_GAP,
                 pictures=["validation-loss", "train-loss"], heatmaps=True),
            dict(name="f6-language-model-all-fortunes",
                 setting="the same networks, words and windows on the whole fortune folder "
                         "(2.6 MB, ten times the text); every cell and the trained guides get "
                         "12 epochs",
                 premise=LANGUAGE_MODEL_PREMISE, claims=LANGUAGE_MODEL_CLAIMS,
                 gap=LANGUAGE_MODEL_GAP,
                 pictures=["validation-loss", "train-loss"], heatmaps=True),
        ]),
    dict(
        id="F7", title="Guidance for the first steps only",
        paper_claim="guidance as initialisation alone mitigates over-fitting",
        paper_rows=[("guidance for the first 300 steps, then the task alone",
                     "loss curves only: \"comparable to continuous guidance\"; no numbers")],
        paper_metric="(a figure of training and validation loss)",
        studies=[
            dict(name="f2-f7-wide-fcn",
                 setting="the F2 study's Wide FCN; guidance for the first 20 of 160 steps (the "
                         "released 300 steps, scaled to the run)",
                 premise=WIDE_FCN_PREMISE, claims=early_guidance_claims(20),
                 pictures=["validation-loss", "train-loss"], picture_prefix="f7-"),
            dict(name="f2-f7-wide-fcn-200-epochs",
                 setting="the F2 second study's Wide FCN (200 epochs); guidance for the first 50 "
                         "of 400 steps (the released 300 steps, scaled to the run as before)",
                 premise=WIDE_FCN_PREMISE, claims=early_guidance_claims(50),
                 pictures=["validation-loss", "train-loss"], picture_prefix="f7-"),
        ]),
    dict(
        id="F8", title="Guidance against knowledge distillation",
        paper_claim="guidance transfers what distillation does not, including from untrained "
                    "guides, which have no knowledge to distil",
        paper_rows=[("guidance vs distillation", "qualitative only: \"guidance consistently "
                     "outperforms distillation\"; distillation fails with an untrained teacher")],
        paper_metric="(no numbers in the stored copies)",
        studies=[
            dict(name="f8-distillation",
                 setting="the quickstart's 6-layer FCN on 10 000 images, a small CNN guide",
                 premise=DISTILLATION_PREMISE, claims=DISTILLATION_CLAIMS,
                 atlas=DISTILLATION_ATLAS, pictures=["validation-loss", "validation-top1"]),
            dict(name="f8-distillation-wide-guide",
                 setting="the same FCN; a wider CNN guide (32-64-128 channels), which alone and "
                         "as a trained guide gets 15 epochs (the FCN 8)",
                 premise=DISTILLATION_PREMISE, claims=DISTILLATION_CLAIMS,
                 atlas=DISTILLATION_ATLAS, pictures=["validation-loss", "validation-top1"]),
        ]),
    dict(
        id="F9", title="Error consistency with the guide",
        paper_claim="a guided network's errors become more consistent with its guide's",
        paper_rows=[("Deep FCN guided by ResNet-18 / ViT-B-16", "a figure of κ; no numbers")],
        paper_metric="error consistency (Cohen's κ, Geirhos et al. 2020)",
        # Each F8 setting's records, read again: one section per study.
        consistency=[
            dict(study=name, setting=setting, premise=DISTILLATION_PREMISE,
                 guided={"guidance.alpha": "1", "guide.init.plugin": "trained"},
                 unguided={"target.plugin": "mlp", "guidance.enabled": "false"})
            for name, setting in (
                ("f8-distillation", "the first F8 study's records (a small CNN guide)"),
                ("f8-distillation-wide-guide",
                 "the second F8 study's records (a wider CNN guide, trained 15 epochs)"))],
        studies=[]),
]

NOTES_FILE = "results/paper/notes.md"


def run(args, check=True):
    result = subprocess.run(args, capture_output=True, text=True)
    if check and result.returncode != 0:
        sys.exit(f"paper-page: {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def matches(row, cell):
    return all(row.get(key) == value for key, value in cell.items())


def number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def fmt(value, digits=4):
    return "n/a" if math.isnan(value) else f"{value:.{digits}f}"


def signed(value):
    return "n/a" if math.isnan(value) else f"{value:+.4f}"


def verdict(row, measure, better, margin):
    low, high = number(row.get(f"{measure} ci_low")), number(row.get(f"{measure} ci_high"))
    if math.isnan(low) or math.isnan(high):
        return "inconclusive (no interval)"
    if better == "lower":
        low, high = -high, -low
    if low > 0:
        return "reproduced"
    if high < 0:
        return "not reproduced (opposite direction)"
    if -margin <= low and high <= margin:
        return f"not reproduced (within ±{margin:g})"
    return "inconclusive"


def incomplete_beta(a, b, x):
    """The regularised incomplete beta function I_x(a, b) (continued fraction, modified Lentz)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    if x > (a + 1.0) / (a + b + 2.0):
        return 1.0 - incomplete_beta(b, a, 1.0 - x)
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) +
                     b * math.log1p(-x)) / a
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    f = d
    for m in range(1, 500):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            f *= c * d
        if abs(c * d - 1.0) < 1e-15:
            break
    return front * f


def t_cdf(t, df):
    """P(T ≤ t) for Student's t with `df` (> 0, not necessarily whole) degrees of freedom."""
    tail = 0.5 * incomplete_beta(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def t_quantile(p, df):
    """The `p` quantile of Student's t with `df` degrees of freedom (bisection on t_cdf)."""
    if not 0.0 < p < 1.0 or math.isnan(df) or df <= 0:
        return math.nan
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    low, high = 0.0, 1.0
    while t_cdf(high, df) < p:
        low, high = high, high * 2.0
    for _ in range(200):
        middle = 0.5 * (low + high)
        if t_cdf(middle, df) < p:
            low = middle
        else:
            high = middle
        if high - low < 1e-12 * max(1.0, high):
            break
    return 0.5 * (low + high)


def welch_df(s1, n1, s2, n2):
    """Welch–Satterthwaite degrees of freedom (NaN when either side has fewer than 2 values or
    both spreads are 0)."""
    if n1 < 2 or n2 < 2 or math.isnan(s1) or math.isnan(s2):
        return math.nan
    v1, v2 = s1 * s1 / n1, s2 * s2 / n2
    if v1 + v2 == 0:
        return math.nan
    return (v1 + v2) ** 2 / (v1 * v1 / (n1 - 1) + v2 * v2 / (n2 - 1))


def welch_interval(m1, s1, n1, m2, s2, n2, confidence=1 - ALPHA):
    """Difference m1 − m2 with its two-sided Welch interval: (difference, low, high); the interval
    is NaN with fewer than 2 values a side, and a point when both spreads are 0."""
    difference = m1 - m2
    if n1 < 2 or n2 < 2 or math.isnan(s1) or math.isnan(s2):
        return difference, math.nan, math.nan
    se = math.sqrt(s1 * s1 / n1 + s2 * s2 / n2)
    if se == 0:
        return difference, difference, difference
    half = t_quantile(1 - (1 - confidence) / 2, welch_df(s1, n1, s2, n2)) * se
    return difference, difference - half, difference + half


def t_interval(m, s, n, confidence=1 - ALPHA):
    """A mean's two-sided t interval: (low, high); NaN with fewer than 2 values."""
    if n < 2 or math.isnan(s):
        return math.nan, math.nan
    half = t_quantile(1 - (1 - confidence) / 2, n - 1) * s / math.sqrt(n) if s > 0 else 0.0
    return m - half, m + half


def detectable_effect(s1, n1, s2, n2, alpha=ALPHA, power=POWER):
    """The smallest difference a two-sided Welch test at `alpha` detects with `power`, at
    standard deviations s1, s2 over n1, n2 seeds:
    (t(1 − α/2, df) + t(power, df)) · sqrt(s1²/n1 + s2²/n2), df by Welch–Satterthwaite.
    NaN with fewer than 2 seeds a side; 0 when neither side spreads at all."""
    if n1 < 2 or n2 < 2 or math.isnan(s1) or math.isnan(s2):
        return math.nan
    se = math.sqrt(s1 * s1 / n1 + s2 * s2 / n2)
    if se == 0:
        return 0.0
    df = welch_df(s1, n1, s2, n2)
    return (t_quantile(1 - alpha / 2, df) + t_quantile(power, df)) * se


def seeds(row):
    """The number of finished seeds of a summary row (0 when it says nothing)."""
    value = number(row.get("n_finished"))
    return 0 if math.isnan(value) else int(value)


def cell_text_of(cell):
    return ", ".join(f"{key}={value}" for key, value in cell.items())


def side_figures(row, measure):
    """(mean, std, n) of `measure` in a summary row."""
    return number(row.get(measure + " mean")), number(row.get(measure + " std")), seeds(row)


def figures_text(s, mean, std, n):
    """"LABEL (MEASURE) mean ± std (n = N)" of one side of a premise condition."""
    return f"{s['label']} ({s['measure']}) {fmt(mean)} ± {fmt(std)} (n = {n})"


def evaluate_premise(spec_premise, rows):
    """A study's premise against its summary rows: (status, lines), status one of "met",
    "not met", "not measured"; `lines` give each condition's figures. A condition whose cell no
    row matches (or matches twice), or whose measure the rows lack, is not measured."""
    if not spec_premise:
        return "not measured", ["no premise declared for this study"]
    missing, lines, held = [], [], []

    def find(s):
        found = [r for r in rows if matches(r, s["cell"])]
        problem = None
        if len(found) != 1:
            problem = (f"no cell {cell_text_of(s['cell'])}" if not found else
                       f"{len(found)} cells match {cell_text_of(s['cell'])}")
        elif s["measure"] + " mean" not in found[0]:
            problem = f"no measure {s['measure']} in the cell {cell_text_of(s['cell'])}"
        if problem:
            if problem not in missing:
                missing.append(problem)
            return None
        return found[0]

    for condition in spec_premise["conditions"]:
        a = condition["a"]
        row_a = find(a)
        row_b = find(condition["b"]) if condition["kind"] == "compare" else None
        if row_a is None or (condition["kind"] == "compare" and row_b is None):
            continue
        note = f" ({condition['note']})" if condition.get("note") else ""
        m1, s1, n1 = side_figures(row_a, a["measure"])
        if condition["kind"] == "level":
            low, high = t_interval(m1, s1, n1)
            above = condition["direction"] == "above"
            ok = (low > condition["value"]) if above else (high < condition["value"])
            interval = ("no interval: n < 2" if math.isnan(low) else
                        f"95 % interval [{fmt(low)}, {fmt(high)}]")
            lines.append(f"{figures_text(a, m1, s1, n1)}, "
                         f"{interval}; needs {'>' if above else '<'} {condition['value']:g}"
                         f"{note}: **{'met' if ok else 'not met'}**")
        else:
            b = condition["b"]
            m2, s2, n2 = side_figures(row_b, b["measure"])
            difference, low, high = welch_interval(m1, s1, n1, m2, s2, n2)
            sign = 1 if condition["direction"] == "above" else -1
            ok = (not math.isnan(low) and sign * low > 0 and sign * high > 0 and
                  sign * difference >= condition["min_gap"])
            interval = ("no interval: n < 2" if math.isnan(low) else
                        f"[{signed(low)}, {signed(high)}]")
            need = (f"{'above' if sign > 0 else 'below'} 0" +
                    (f", by ≥ {condition['min_gap']:g}" if condition["min_gap"] else ""))
            lines.append(f"{figures_text(a, m1, s1, n1)} vs {figures_text(b, m2, s2, n2)}: "
                         f"Δ {signed(difference)} {interval}; needs {need}{note}: "
                         f"**{'met' if ok else 'not met'}**")
        held.append(ok)
    if missing:
        return "not measured", ["premise not measured (" + "; ".join(missing) + ")"] + lines
    return ("met" if all(held) else "not met"), lines


def premise_section(spec_premise, rows):
    """The row that opens a study's section: the premise, its status, each condition's figures.
    Returns (status, markdown lines)."""
    status, lines = evaluate_premise(spec_premise, rows)
    text = spec_premise["text"] if spec_premise else "(none declared)"
    out = [f"**Premise:** {text} — **{status}**."]
    out += [f"- {line}" for line in lines]
    out.append("")
    return status, out


def withheld(premise_status, n1, n2):
    """Why a claim gets no verdict ("" when it gets one): its study's premise, its seeds."""
    reasons = []
    if premise_status != "met":
        reasons.append(f"premise {premise_status}")
    if n1 < MIN_SEEDS or n2 < MIN_SEEDS:
        reasons.append(f"n < {MIN_SEEDS}: too few to decide")
    return "; ".join(reasons)


def parse_label(text):
    """A summary row's `baseline` label ("a=1, b=x") as a cell."""
    cell = {}
    for part in (text or "").split(", "):
        key, equals, value = part.partition("=")
        if equals:
            cell[key.strip()] = value.strip()
    return cell


def baseline_row(rows, row):
    """The summary row that `row`'s Δ is taken against (None when not found)."""
    cell = parse_label(row.get("baseline"))
    found = [r for r in rows if cell and matches(r, cell)]
    return found[0] if len(found) == 1 else None


class Summaries:
    """`guidance summarize --tune` of a study, once per baseline, written under the page."""

    def __init__(self, runs, page):
        self.runs, self.page, self.done = runs, page, {}

    def rows(self, study, baseline=None):
        key = (study, baseline)
        if key not in self.done:
            out = os.path.join(self.page, study, "vs-" + baseline.replace("=", "-").replace(",", "+")
                               if baseline else "")
            command = [CLI, "summarize", os.path.join(self.runs, study), "--tune", TUNED,
                       "--out", out]
            if baseline:
                command += ["--baseline", baseline]
            run(command)
            self.done[key] = (read_rows(os.path.join(out, "summary.csv")), out)
        return self.done[key]


def sweep_settings(run_dir):
    """A run's sweep settings (its sweep-cell.toml, written by `guidance run`) as dotted keys,
    inline tables flattened ("target" = { plugin = "mlp" } gives "target.plugin": "mlp")."""
    with open(os.path.join(run_dir, "sweep-cell.toml"), "rb") as f:
        settings = tomllib.load(f)["settings"]
    flat = {}

    def add(key, value):
        if isinstance(value, dict):
            for name, inner in value.items():
                add(f"{key}.{name}", inner)
        else:
            flat[key] = str(value).lower() if isinstance(value, bool) else str(value)
    for key, text in settings.items():
        add(key, tomllib.loads("value = " + text)["value"])
    return flat


def atlas_pivot(spec, runs, page, scratch):
    """The study's pivot (`summarize --tune --rows --cols`) over the runs whose sweep settings
    match spec["atlas"]["only"] (the cells the pivot is about, premise cells left out); returns
    its picture's path below the page."""
    study, atlas = spec["name"], spec["atlas"]
    view = os.path.join(scratch, "atlas-" + study)
    for name in sorted(os.listdir(os.path.join(runs, study))):
        run_dir = os.path.join(runs, study, name)
        if not os.path.exists(os.path.join(run_dir, "sweep-cell.toml")):
            continue
        settings = sweep_settings(run_dir)
        if all(settings.get(key) == value for key, value in atlas["only"].items()):
            link_run(view, os.path.join(run_dir, "run.h5"))
    out = os.path.join(page, study, "atlas")
    run([CLI, "summarize", view, "--tune", TUNED, "--rows", atlas["rows"], "--cols",
         atlas["cols"], "--out", out])
    # The summary names the folder it read: the runs it stands for, not the scratch view, so the
    # committed page does not change with each regeneration.
    summary = os.path.join(out, "summary.md")
    with open(summary) as f:
        text = f.read()
    cells = ", ".join(f"{key}={value}" for key, value in atlas["only"].items())
    with open(summary, "w") as f:
        f.write(text.replace(view, f"{os.path.relpath(os.path.join(runs, study))} ({cells})"))
    return f"{study}/atlas/atlas.svg"


def run_paths(runs, study, row):
    return [os.path.join(runs, study, name, "run.h5") for name in row["runs"].split("; ") if name]


def link_runs(view, runs, study, rows):
    """A folder of links to the records of `rows`' runs, for the analyze commands that read a
    directory; returns it."""
    for row in rows:
        for path in run_paths(runs, study, row):
            link_run(view, path)
    return view


def link_run(view, path):
    """A link view/<run>/run.h5 to the record at `path` (its folder names the run)."""
    name = os.path.basename(os.path.dirname(path))
    os.makedirs(os.path.join(view, name), exist_ok=True)
    os.symlink(os.path.abspath(path), os.path.join(view, name, "run.h5"))


def pictures(spec, rows, runs, page, scratch):
    """Curves of the kept cells' runs (every seed) and guide × target CKA heatmaps."""
    study = spec["name"]
    lines = []
    if not spec.get("pictures") and not spec.get("heatmaps"):
        return lines
    # A study two findings share (F2 and F7) draws each finding's kept cells under its own prefix.
    prefix = spec.get("picture_prefix", "")
    view = link_runs(os.path.join(scratch, prefix + study), runs, study, rows)
    report = os.path.join(scratch, prefix + study + "-report")
    run([CLI, "analyze", "report", view, "--out", report])
    for chart in spec.get("pictures", []):
        source = os.path.join(report, chart + ".svg")
        if os.path.exists(source):
            shutil.copy(source, os.path.join(page, study, prefix + chart + ".svg"))
            lines.append(f"![{chart}]({study}/{prefix}{chart}.svg)")
    if spec.get("heatmaps"):
        guided = [r for r in rows if r.get("guidance.enabled", "true") == "true"]
        unguided = [r for r in rows if r.get("guidance.enabled") == "false" and guided and
                    r.get("target.plugin") == guided[0].get("target.plugin")]
        if guided and unguided:
            guide_run = run_paths(runs, study, guided[0])[0]
            captions = []
            for label, row in (("guided", guided[0]), ("unguided", unguided[0])):
                target_run = run_paths(runs, study, row)[0]
                out = os.path.join(scratch, study + "-compare-" + label)
                result = run([CLI, "analyze", "compare", target_run, guide_run, "--metric",
                              "linear-cka", "--side-b", "guide", "--out", out], check=False)
                if result.returncode != 0:
                    lines.append(f"(no {label} heatmap: {result.stderr.strip()[-200:]})")
                    continue
                name = f"cka-{label}-target-vs-guide.svg"
                shutil.copy(os.path.join(out, "compare-linear-cka-target-guide.svg"),
                            os.path.join(page, study, name))
                lines.append(f"![{label} target vs guide]({study}/{name})")
                captions.append(f"{label}: {os.path.basename(os.path.dirname(target_run))}")
            lines.append("Linear CKA of each target tap (rows) with each guide tap (columns) at "
                         "the end, on the probe set; the guide is that of "
                         f"`{os.path.basename(os.path.dirname(guide_run))}` (" +
                         "; ".join(captions) + ").")
    return lines


def cell_text(row, measure):
    return f"{fmt(number(row.get(measure + ' mean')))} ± {fmt(number(row.get(measure + ' std')))}"


def axis_label(row, axes):
    return ", ".join(f"{a}={row[a]}" for a in axes if row.get(a) not in (None, ""))


def sample_std(values):
    """The sample standard deviation (n − 1) of a list; NaN below two values."""
    if len(values) < 2:
        return math.nan
    m = sum(values) / len(values)
    return math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1))


def mean_std_text(values):
    """"mean ± std (n = N)" of a list ("n/a" for an empty list)."""
    if not values:
        return "n/a"
    return f"{sum(values) / len(values):.4f} ± {fmt(sample_std(values))} (n = {len(values)})"


def guide_accuracy(path):
    """The test accuracy of the guide a run trained with, from the run's own record: the share
    of its guide's recorded test predictions that are right (per example, or per scored token);
    None where the record has no guide predictions."""
    result = run([CLI, "analyze", "consistency", path, path, "--side-b", "guide"], check=False)
    for line in result.stdout.splitlines():
        parts = line.split()
        if parts[:1] == ["accuracy"] and len(parts) == 4:
            return float(parts[3])
    return None


def trained_guides_lines(rows, axes, runs, study):
    """One line per kept cell guided by a trained guide: the guides' own test accuracy, so the
    page shows each trained guide is worth its name."""
    lines = []
    for row in rows:
        if row.get("guide.init.plugin") != "trained":
            continue
        values = [v for v in (guide_accuracy(p) for p in run_paths(runs, study, row))
                  if v is not None]
        lines.append(f"- the guides of the cell {axis_label(row, axes)}: {mean_std_text(values)}")
    if not lines:
        return []
    return ["**The trained guides' own test accuracy** (each run's guide, from the test "
            "predictions its record keeps; per example, or per scored token):"] + lines + [""]


def study_section(spec, summaries, runs, page, scratch, out):
    study = spec["name"]
    rows, folder = summaries.rows(study)
    axes = [k for k in rows[0].keys() if k not in ("n_finished", "n_found", "runs", "flagged",
                                                     "baseline") and not k.endswith(
        (" mean", " std", " delta", " ci_low", " ci_high", " df"))]
    measures = []
    for c in spec["claims"]:
        if c["measure"] not in measures:
            measures.append(c["measure"])
    times = os.path.join(page, "times", study + ".txt")
    seconds = int(open(times).read()) if os.path.exists(times) else None
    out.append(f"**Study `{study}`** — {spec['setting']}. "
               f"{sum(int(float(r['n_found'])) for r in rows)} runs in the kept cells"
               + (f"; the whole study took {seconds // 60} min {seconds % 60} s with `--jobs 2`"
                  if seconds is not None else "") + ".\n")
    premise_status, premise_lines = premise_section(spec.get("premise"), rows)
    out += premise_lines
    out += trained_guides_lines(rows, axes, runs, study)
    for m in [m for c in (spec.get("premise") or {}).get("conditions", [])
              for m in (c["a"]["measure"], c.get("b", {}).get("measure")) if m]:
        if m not in measures and m + " mean" in rows[0]:
            measures.append(m)
    counts = sorted({seeds(r) for r in rows})
    few = [r for r in rows if seeds(r) < MIN_SEEDS]
    out.append(f"Seeds per cell: {', '.join(str(n) for n in counts)}" +
               (f"; {len(few)} of {len(rows)} cells have fewer than {MIN_SEEDS} (flagged "
                f"`n < {MIN_SEEDS}`), too few to decide." if few else ".") + "\n")
    out.append("| cell | runs | " + " | ".join(measures) + " |")
    out.append("|---|---|" + "---|" * len(measures))
    for row in rows:
        flag = f" (n < {MIN_SEEDS})" if seeds(row) < MIN_SEEDS else ""
        out.append(f"| {axis_label(row, axes)} | {row['n_finished']}/{row['n_found']}{flag} | " +
                   " | ".join(cell_text(row, m) for m in measures) + " |")
    out.append("")
    results = []
    for c in spec["claims"]:
        claim_rows, _ = summaries.rows(study, c["baseline"])
        found = [r for r in claim_rows if matches(r, c["cell"])]
        if len(found) != 1:
            text = f"{len(found)} cells match {cell_text_of(c['cell'])}"
            reason = f"premise {premise_status}" if premise_status != "met" else ""
            results.append((c, None, None, (reason + "; " if reason else "") + text))
            continue
        row = found[0]
        base = baseline_row(claim_rows, row)
        n1, n2 = seeds(row), seeds(base) if base else 0
        reason = withheld(premise_status, n1, n2)
        results.append((c, row, base, reason or verdict(row, c["measure"], c["better"],
                                                        c["margin"])))
    out.append(f"| claim | measure (better) | Δ [95 % CI] | detectable at {POWER * 100:g} % "
               "power | seeds | verdict |")
    out.append("|---|---|---|---|---|---|")
    for c, row, base, text in results:
        if row is None:
            out.append(f"| {c['label']} | {c['measure']} | — | — | — | **{text}** |")
            continue
        m = c["measure"]
        if base is not None:
            mde = detectable_effect(number(row.get(m + " std")), seeds(row),
                                    number(base.get(m + " std")), seeds(base))
            mde_text = "n/a" if math.isnan(mde) else f"±{mde:.4f}"
            seeds_text = f"{seeds(row)} vs {seeds(base)}"
        else:
            mde_text, seeds_text = "n/a (no baseline row)", f"{seeds(row)} vs ?"
        out.append(f"| {c['label']} | {m} ({c['better']}; margin ±{c['margin']:g}) | "
                   f"{signed(number(row.get(m + ' delta')))} [{signed(number(row.get(m + ' ci_low')))}, "
                   f"{signed(number(row.get(m + ' ci_high')))}] | {mde_text} | {seeds_text} | "
                   f"**{text}** |")
    out.append("")
    gap = spec.get("gap")
    if gap:
        reference = [r for r in rows if matches(r, gap["reference"])]
        baseline = [r for r in rows if matches(r, gap["baseline"])]
        guided = [r for r in rows if r.get("guidance.enabled") == "true"]
        if reference and baseline:
            m = gap["measure"]
            ref, base = number(reference[0][m + " mean"]), number(baseline[0][m + " mean"])
            parts = []
            for row in guided:
                closed = (number(row[m + " mean"]) - base) / (ref - base) if ref != base else math.nan
                parts.append(f"{axis_label(row, [a for a in axes if a.startswith('guide')])}: "
                             f"{fmt(100 * closed, 1)} %")
            out.append(f"Share of the gap closed ({m}, unguided {fmt(base)} → reference "
                       f"{fmt(ref)}): " + "; ".join(parts) + ".\n")
    with open(os.path.join(folder, "summary.md")) as f:
        tuning = f.read().split("Tuning of ", 1)
    if len(tuning) == 2:
        out.append("<details><summary>Every learning rate tried (mean validation loss)</summary>"
                   "\n\n" + tuning[1].split("\n", 2)[2].strip() + "\n\n</details>\n")
    if spec.get("atlas"):
        out.append(f"![atlas]({atlas_pivot(spec, runs, page, scratch)})\n")
    out += pictures(spec, rows, runs, page, scratch)
    out.append(f"\nFull table: [{study}/summary.md]({study}/summary.md). Reproduce: "
               f"`build/bin/guidance run configs/paper/{study}.toml --jobs 2 && "
               f"build/bin/guidance summarize results/paper-runs/{study} --tune {TUNED}`.\n")
    return results[0][3] if results else "inconclusive"


def consistency_section(spec, summaries, runs, page, scratch, out):
    """κ of each seed's target with the trained guide, guided against unguided targets."""
    study = spec["study"]
    rows, _ = summaries.rows(study)
    guided = [r for r in rows if matches(r, spec["guided"])]
    unguided = [r for r in rows if matches(r, spec["unguided"])]
    premise_status, premise_lines = premise_section(spec.get("premise"), rows)
    out.append(f"**Study `{study}`** — {spec['setting']}.\n")
    out += premise_lines
    if len(guided) != 1 or len(unguided) != 1:
        out.append(f"(cells not found in {study})\n")
        return (f"premise {premise_status}; " if premise_status != "met" else "") + \
            "inconclusive (cells not found)"
    guides = {os.path.basename(os.path.dirname(p)).split(",")[0]: p
              for p in run_paths(runs, study, guided[0])}
    kappas = {"guided": [], "unguided": []}
    for label, row in (("guided", guided[0]), ("unguided", unguided[0])):
        for path in run_paths(runs, study, row):
            seed = os.path.basename(os.path.dirname(path)).split(",")[0]
            if seed not in guides:
                continue
            result = run([CLI, "analyze", "consistency", path, guides[seed], "--side-b", "guide"])
            for line in result.stdout.splitlines():
                if line.strip().startswith("kappa"):
                    kappas[label].append(float(line.split()[1]))
    folder = f"f9-consistency/{study}"
    view = link_runs(os.path.join(scratch, "consistency", study), runs, study,
                     [guided[0], unguided[0]])
    os.makedirs(os.path.join(page, folder), exist_ok=True)
    run([CLI, "analyze", "consistency", view, "--out", os.path.join(page, folder)])

    def stats(values):
        if len(values) < 2:
            return "n/a"
        return (f"{sum(values) / len(values):.4f} ± {sample_std(values):.4f} (" +
                ", ".join(f"{v:.4f}" for v in values) + ")")

    out.append(f"From the study `{study}`: each seed's target against the trained guide of the "
               f"same seed (the guided run's own guide; the unguided run never saw it).\n")
    out.append("| target | κ with the trained guide: mean ± std (per seed) |\n|---|---|")
    out.append(f"| guided by the trained guide ({axis_label(guided[0], [TUNED])}) | "
               f"{stats(kappas['guided'])} |")
    out.append(f"| unguided ({axis_label(unguided[0], [TUNED])}) | {stats(kappas['unguided'])} |")
    g, u = kappas["guided"], kappas["unguided"]
    # Every guided κ above every unguided one has one-sided exact permutation probability
    # 1 / C(n_g + n_u, n_g): 1/20 = 0.05 at 3 against 3, 1/252 at 5 against 5; the opposite
    # ordering the same.
    if len(g) >= 3 and len(u) >= 3 and min(g) > max(u):
        text = "reproduced"
    elif len(g) >= 3 and len(u) >= 3 and max(g) < min(u):
        text = "not reproduced (opposite direction)"
    else:
        text = "inconclusive"
    reason = withheld(premise_status, len(g), len(u))
    p_value = (1 / math.comb(len(g) + len(u), len(g))) if g and u else math.nan

    mde = detectable_effect(sample_std(g), len(g), sample_std(u), len(u))
    out.append("\nRule for this finding (κ has no Welch interval here): **reproduced** when every "
               "guided seed's κ exceeds every unguided seed's (exact one-sided permutation "
               f"p = 1/C(n_g + n_u, n_g), here {fmt(p_value)} at {len(g)} against {len(u)}), "
               "**not reproduced** at the opposite ordering, else **inconclusive**; no verdict "
               "where the premise is not met or a side has fewer than "
               f"{MIN_SEEDS} seeds. Detectable at {POWER * 100:g} % power (Welch "
               f"approximation): {'n/a' if math.isnan(mde) else f'±{mde:.4f}'} in κ. Verdict: "
               f"**{reason or text}**.\n")
    text = reason or text
    out.append(f"![error consistency]({folder}/consistency.svg)\n")
    out.append("κ of every network of the two cells (targets and their guides): "
               f"[{folder}/consistency.csv]({folder}/consistency.csv). Reproduce: "
               f"`build/bin/guidance analyze consistency TARGET/run.h5 GUIDED/run.h5 --side-b guide`"
               f" for the runs of `results/paper-runs/{study}`.\n")
    return text


EARLIER_SETTINGS = "earlier-settings.md"


@functools.cache  # a consistency section asks again about the study it reads
def study_progress(configs, study, runs):
    """(runs done, runs in all) of the study `configs`/<study>.toml with its records in `runs`,
    as `guidance run --dry-run` counts them."""
    counted = run([CLI, "run", os.path.join(configs, study + ".toml"), "--dry-run",
                   "run.output=" + os.path.abspath(runs)]).stdout.strip().splitlines()[-1]
    found = re.search(r"(\d+) runs: (\d+) done", counted)
    if not found:
        sys.exit(f"paper-page: cannot read the progress of {study} from {counted!r}")
    return int(found.group(2)), int(found.group(1))


def total_time_text(page, names):
    """The page's whole compute time: the sum of the times (times/<study>.txt) of the studies
    `names`."""
    seconds = [int(open(path).read()) for path in
               (os.path.join(page, "times", name + ".txt") for name in names)
               if os.path.exists(path)]
    total = sum(seconds)
    return (f"The {len(seconds)} {'study' if len(seconds) == 1 else 'studies'} run took "
            f"{total // 3600} h {total % 3600 // 60} min in "
            "all (wall time with `--jobs 2` on 2 cores; each study's own time is in its "
            "section).\n")


def earlier_settings(page):
    """The section that keeps earlier pages' verdicts: the page folder's earlier-settings.md as
    it stands, under its own heading; nothing when there is no such file."""
    path = os.path.join(page, EARLIER_SETTINGS)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        text = f.read().strip()
    return ["## Earlier settings\n", text + "\n"] if text else []


def main():
    global CLI
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", default="results/paper-runs")
    parser.add_argument("--page", default="results/paper")
    parser.add_argument("--configs", default="configs/paper")
    parser.add_argument("--cli", default=CLI)
    parser.add_argument("--only", default="", help="comma-separated studies")
    args = parser.parse_args()
    CLI = args.cli
    only = [name for name in args.only.split(",") if name]
    findings = [f for f in FINDINGS
                if not only or any(s["name"] in only for s in f["studies"]) or
                any(c["study"] in only for c in f.get("consistency", []))]
    os.makedirs(args.page, exist_ok=True)
    summaries = Summaries(args.runs, args.page)
    notes = {}
    if os.path.exists(NOTES_FILE):
        current = None
        for line in open(NOTES_FILE):
            if line.startswith("## "):
                current = line[3:].split()[0]
                notes[current] = []
            elif current:
                notes[current].append(line)
    body, verdicts, finished = [], [], set()
    with tempfile.TemporaryDirectory() as scratch:
        for finding in findings:
            body.append(f"## {finding['id']}: {finding['title']}\n")
            body.append(f"**Paper:** {finding['paper_claim']}. {finding['paper_metric']}:\n")
            body.append("| paper's row | value |\n|---|---|")
            body += [f"| {name} | {value} |" for name, value in finding["paper_rows"]]
            body.append("")
            # A consistency section reads an existing study's records; both kinds render alike.
            sections = ([(spec["study"], spec, consistency_section)
                         for spec in finding.get("consistency", [])] +
                        [(spec["name"], spec, study_section) for spec in finding["studies"]])
            texts = []
            for name, spec, section in sections:
                done, total = (study_progress(args.configs, name, args.runs)
                               if os.path.isdir(os.path.join(args.runs, name)) else (0, 0))
                if total and done == total:
                    text = section(spec, summaries, args.runs, args.page, scratch, body)
                    finished.add(name)
                elif total:
                    # A study running or stopped part-way: a summary of some seeds would read as
                    # the study's result.
                    body.append(f"**Study `{name}`** — {spec['setting']}: unfinished, {done} of "
                                f"{total} runs done (`bash scripts/paper.sh {name}` continues "
                                f"it); summarised once every run is done.\n")
                    text = f"unfinished ({done} of {total} runs)"
                else:
                    body.append(f"**Study `{name}`** — {spec['setting']}: not run yet "
                                f"(`bash scripts/paper.sh {name}`).\n")
                    text = "not run"
                texts.append((spec["setting"], text))
            verdicts.append((finding, texts[0][1], texts))
            if finding["id"] in notes:
                body.append("**Our reading:** " + "".join(notes[finding["id"]]).strip() + "\n")
    page = ["# The paper's findings at CPU scale\n",
            "Each finding of Subramaniam et al., \"Training the Untrainable: Introducing "
            "Inductive Bias via Representational Alignment\" (arXiv 2410.20035), tested by a "
            "study of `configs/paper/` on a 2-core machine: Fashion-MNIST subsets for ImageNet, "
            "the synthetic tasks at modest lengths, local text for language modelling (a 245 kB "
            "file, then Debian's 2.6 MB fortune folder). "
            "Each study states its seeds per cell (a verdict needs at least "
            f"{MIN_SEEDS}) and crosses every cell with its learning rates; each cell, baselines "
            "included, keeps "
            "the learning rate of lowest mean validation loss (`guidance summarize --tune "
            "train.learning_rate`, as the paper kept its lowest validation loss), and every "
            "value tried is listed. Every run's record is kept (`results/paper-runs/`, not "
            "committed). Final measures are of the best-validation weights unless a measure "
            "says `last` (the weights at the end of training). Every study uses the released "
            "method's rules (`docs/fidelity.md`); its setting names what it changes (sizes, "
            "lengths, a guide). A trained guide is trained on the study's task first, with the "
            "budget of the study's cell that trains the guide architecture alone; its own test "
            "accuracy, read from each guided run's record, follows the premise.\n",
            VERDICT_RULE + "\n",
            PREMISE_RULE + "\n",
            f"The paper's figures are as the secondary source {PAPER_SOURCE} transcribes "
            "them (mean ± std over 5 seeds); they were not checked against the arXiv tables.\n",
            total_time_text(args.page, sorted(finished)),
            "Regenerate everything (hours; it resumes where it stopped): `bash scripts/paper.sh`."
            " This page alone, from the records: `/usr/bin/python3 scripts/paper-page.py`.\n",
            "| finding | paper | verdict here |", "|---|---|---|"]
    for finding, text, texts in verdicts:
        detail = text if not texts or len(texts) == 1 else "<br>".join(
            f"{setting}: {t}" for setting, t in texts)
        page.append(f"| [{finding['id']}](#{finding['id'].lower()}-"
                    f"{finding['title'].lower().replace(' ', '-').replace(',', '').replace(';', '')}"
                    f") | {finding['paper_claim']} | {detail} |")
    page.append("")
    earlier = earlier_settings(args.page)
    if earlier:
        page.append("The verdicts of earlier settings are kept below, in "
                    "[Earlier settings](#earlier-settings), so nothing tried is hidden.\n")
    body += earlier
    with open(os.path.join(args.page, "README.md"), "w") as f:
        f.write("\n".join(page + body) + "\n")
    print(f"wrote {os.path.join(args.page, 'README.md')}")


if __name__ == "__main__":
    main()
