#!/usr/bin/python3
"""Writes results/paper/README.md, the paper's findings beside ours, from the study records of
configs/paper/ (results/paper-runs/) with the workbench's own tools: `guidance summarize --tune
train.learning_rate` for every number, `guidance analyze report|compare|consistency` for every
picture. scripts/paper.sh runs the studies first; this script only reads their records.

    /usr/bin/python3 scripts/paper-page.py [--runs results/paper-runs] [--page results/paper]
        [--cli build/bin/guidance] [--only STUDY,...]

--only writes the findings of those studies alone (the smoke test, tests/paper/, does).

Verdicts follow one rule, decided before any study ran (see VERDICT_RULE below), applied to the
95 % Welch interval of the difference the paper's claim is about. Standard library only.
"""
import argparse
import csv
import math
import os
import shutil
import subprocess
import sys
import tempfile

CLI = "build/bin/guidance"
TUNED = "train.learning_rate"

VERDICT_RULE = """A claim is **reproduced** when the 95 % Welch interval of the difference lies
wholly on the side the paper claims; **not reproduced** when it lies wholly on the other side, or
when it lies inside ± the stated margin of practical equivalence (no effect of a size worth the
name); **inconclusive** otherwise (the interval straddles 0 and reaches beyond the margin). Each
finding's verdict is that of its first claim; the others are shown beside it."""

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
                      baseline={"target.plugin": "rnn", "guidance.enabled": "false"},
                      measure="test token_accuracy")

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
            dict(name="f1-deep-fcn", setting="32 plain ReLU layers (no normalisation)",
                 claims=DEEP_FCN_CLAIMS,
                 pictures=["validation-loss", "validation-top1"]),
            dict(name="f1b-deep-fcn-batch-norm",
                 setting="32 layers of 128 units with batch normalisation and dropout 0.1 (the released Deep FCN: 48 layers, 2048 then 1024 units)",
                 claims=DEEP_FCN_CLAIMS,
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
                 setting="3 × 2048 units, 2 000 training images, 40 epochs",
                 claims=WIDE_FCN_CLAIMS,
                 pictures=["validation-loss", "train-loss", "validation-top1"], heatmaps=True),
            dict(name="f2b-f7b-wide-fcn-500-images",
                 setting="second setting, harsher: 500 training images, 80 epochs",
                 claims=WIDE_FCN_CLAIMS,
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
                 setting="13 convolutions (3 + 3 basic blocks) without residuals, 4 000 images",
                 claims=[
                     claim("trained residual guide vs unguided plain net",
                           {"guide.init.plugin": "trained"}, "test top1", "higher", ACC_MARGIN),
                     claim("untrained residual guide vs unguided plain net",
                           {"guide.init.plugin": "untrained", "guidance.enabled": "true"},
                           "test top1", "higher", ACC_MARGIN),
                     claim("trained-guided plain net vs the ResNet (gap left)",
                           {"guide.init.plugin": "trained"}, "test top1", "higher", ACC_MARGIN,
                           baseline="target.residual=true,guidance.enabled=false"),
                 ],
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
            dict(name="f4-copy-paste", setting="2-layer Elman RNN, 64 units; lengths 8–16; α = 1",
                 claims=COPY_PASTE_CLAIMS,
                 gap=COPY_PASTE_GAP,
                 pictures=["validation-loss", "validation-token_accuracy"], heatmaps=True),
            dict(name="f4b-copy-paste-alpha-per-position",
                 setting="second setting: guidance weighted per position (α = 0.03)",
                 claims=COPY_PASTE_CLAIMS,
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
            dict(name="f5-parity", setting="2-block Transformer encoder; lengths 2–24",
                 claims=[
                     claim("trained RNN guide vs unguided Transformer",
                           {"guide.init.plugin": "trained"}, "test top1", "higher", ACC_MARGIN),
                     claim("untrained RNN guide vs unguided Transformer",
                           {"guide.init.plugin": "untrained", "guidance.enabled": "true"},
                           "test top1", "higher", ACC_MARGIN),
                 ],
                 gap=dict(reference={"target.plugin": "rnn"},
                          baseline={"target.plugin": "transformer", "guidance.enabled": "false"},
                          measure="test top1"),
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
                 setting="character-level, 1-layer Elman RNN (128 units), 64-character windows",
                 claims=[
                     claim("untrained Transformer guide vs unguided RNN",
                           {"target.plugin": "rnn", "guidance.enabled": "true"},
                           "test perplexity", "lower", 0.02),
                 ],
                 gap=dict(reference={"target.plugin": "transformer"},
                          baseline={"target.plugin": "rnn", "guidance.enabled": "false"},
                          measure="test perplexity"),
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
                 setting="the F2 study's Wide FCN; guidance for the first 40 of 320 steps",
                 claims=[
                     claim("guided for 40 steps vs unguided: validation loss at the end",
                           {"guidance.guided_steps": "40"}, "last validation loss", "lower",
                           LOSS_MARGIN),
                     claim("guided for 40 steps vs unguided: test accuracy (best weights)",
                           {"guidance.guided_steps": "40"}, "test top1", "higher", ACC_MARGIN),
                 ],
                 pictures=["validation-loss", "train-loss"], picture_prefix="f7-"),
            dict(name="f2b-f7b-wide-fcn-500-images",
                 setting="second setting: the F2 second study's 500 images; guidance for the "
                         "first 20 of 160 steps",
                 claims=[
                     claim("guided for 20 steps vs unguided: validation loss at the end",
                           {"guidance.guided_steps": "20"}, "last validation loss", "lower",
                           LOSS_MARGIN),
                     claim("guided for 20 steps vs unguided: test accuracy (best weights)",
                           {"guidance.guided_steps": "20"}, "test top1", "higher", ACC_MARGIN),
                 ],
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
                 claims=[
                     claim("guidance vs distillation, both from the untrained guide",
                           {"guidance.alpha": "1", "guide.init.plugin": "untrained"},
                           "test top1", "higher", ACC_MARGIN,
                           baseline="guidance.alpha=0,guide.init.plugin=untrained"),
                     claim("guidance vs distillation, both from the trained guide",
                           {"guidance.alpha": "1", "guide.init.plugin": "trained"},
                           "test top1", "higher", ACC_MARGIN,
                           baseline="guidance.alpha=0,guide.init.plugin=trained"),
                     claim("untrained-guide guidance vs unguided",
                           {"guidance.alpha": "1", "guide.init.plugin": "untrained"},
                           "test top1", "higher", ACC_MARGIN),
                 ],
                 atlas=("guide.init.plugin", "guidance.alpha"),
                 pictures=["validation-loss", "validation-top1"]),
        ]),
    dict(
        id="F9", title="Error consistency with the guide",
        paper_claim="a guided network's errors become more consistent with its guide's",
        paper_rows=[("Deep FCN guided by ResNet-18 / ViT-B-16", "a figure of κ; no numbers")],
        paper_metric="error consistency (Cohen's κ, Geirhos et al. 2020)",
        consistency=dict(study="f8-distillation",
                         guided={"guidance.alpha": "1", "guide.init.plugin": "trained"},
                         unguided={"guidance.enabled": "false"}),
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


class Summaries:
    """`guidance summarize --tune` of a study, once per baseline, written under the page."""

    def __init__(self, runs, page):
        self.runs, self.page, self.done = runs, page, {}

    def rows(self, study, baseline=None, atlas=None):
        key = (study, baseline)
        if key not in self.done:
            out = os.path.join(self.page, study, "vs-" + baseline.replace("=", "-").replace(",", "+")
                               if baseline else "")
            command = [CLI, "summarize", os.path.join(self.runs, study), "--tune", TUNED,
                       "--out", out]
            if baseline:
                command += ["--baseline", baseline]
            if atlas and not baseline:
                command += ["--rows", atlas[0], "--cols", atlas[1]]
            run(command)
            self.done[key] = (read_rows(os.path.join(out, "summary.csv")), out)
        return self.done[key]


def run_paths(runs, study, row):
    return [os.path.join(runs, study, name, "run.h5") for name in row["runs"].split("; ") if name]


def link_runs(view, runs, study, rows):
    """A folder of links to the records of `rows`' runs, for the analyze commands that read a
    directory; returns it."""
    for row in rows:
        for path in run_paths(runs, study, row):
            name = os.path.basename(os.path.dirname(path))
            os.makedirs(os.path.join(view, name), exist_ok=True)
            os.symlink(os.path.abspath(path), os.path.join(view, name, "run.h5"))
    return view


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


def study_section(spec, summaries, runs, page, scratch, out):
    study = spec["name"]
    rows, folder = summaries.rows(study, atlas=spec.get("atlas"))
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
    out.append("| cell | runs | " + " | ".join(measures) + " |")
    out.append("|---|---|" + "---|" * len(measures))
    for row in rows:
        out.append(f"| {axis_label(row, axes)} | {row['n_finished']}/{row['n_found']} | " +
                   " | ".join(cell_text(row, m) for m in measures) + " |")
    out.append("")
    results = []
    for c in spec["claims"]:
        claim_rows, _ = summaries.rows(study, c["baseline"])
        found = [r for r in claim_rows if matches(r, c["cell"])]
        if len(found) != 1:
            results.append((c, None, f"{len(found)} cells match {c['cell']}"))
            continue
        row = found[0]
        results.append((c, row, verdict(row, c["measure"], c["better"], c["margin"])))
    out.append("| claim | measure (better) | Δ [95 % CI] | verdict |")
    out.append("|---|---|---|---|")
    for c, row, text in results:
        if row is None:
            out.append(f"| {c['label']} | {c['measure']} | — | {text} |")
            continue
        m = c["measure"]
        out.append(f"| {c['label']} | {m} ({c['better']}; margin ±{c['margin']:g}) | "
                   f"{signed(number(row.get(m + ' delta')))} [{signed(number(row.get(m + ' ci_low')))}, "
                   f"{signed(number(row.get(m + ' ci_high')))}] | **{text}** |")
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
        out.append(f"![atlas]({study}/atlas.svg)\n")
    out += pictures(spec, rows, runs, page, scratch)
    out.append(f"\nFull table: [{study}/summary.md]({study}/summary.md). Reproduce: "
               f"`build/bin/guidance run configs/paper/{study}.toml --jobs 2 && "
               f"build/bin/guidance summarize results/paper-runs/{study} --tune {TUNED}`.\n")
    return results[0][2] if results else "inconclusive"


def consistency_section(spec, summaries, runs, page, scratch, out):
    """κ of each seed's target with the trained guide, guided against unguided targets."""
    study = spec["study"]
    rows, _ = summaries.rows(study)
    guided = [r for r in rows if matches(r, spec["guided"])]
    unguided = [r for r in rows if matches(r, spec["unguided"])]
    if len(guided) != 1 or len(unguided) != 1:
        out.append(f"(cells not found in {study})\n")
        return "inconclusive"
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
    view = link_runs(os.path.join(scratch, "consistency"), runs, study, [guided[0], unguided[0]])
    os.makedirs(os.path.join(page, "f9-consistency"), exist_ok=True)
    run([CLI, "analyze", "consistency", view, "--out", os.path.join(page, "f9-consistency")])

    def stats(values):
        if len(values) < 2:
            return "n/a"
        m = sum(values) / len(values)
        s = math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1))
        return f"{m:.4f} ± {s:.4f} (" + ", ".join(f"{v:.4f}" for v in values) + ")"

    out.append(f"From the study `{study}`: each seed's target against the trained guide of the "
               f"same seed (the guided run's own guide; the unguided run never saw it).\n")
    out.append("| target | κ with the trained guide: mean ± std (per seed) |\n|---|---|")
    out.append(f"| guided by the trained guide ({axis_label(guided[0], [TUNED])}) | "
               f"{stats(kappas['guided'])} |")
    out.append(f"| unguided ({axis_label(unguided[0], [TUNED])}) | {stats(kappas['unguided'])} |")
    g, u = kappas["guided"], kappas["unguided"]
    # With 3 seeds against 3, every guided κ above every unguided one has one-sided exact
    # permutation probability 1/20 = 0.05; the opposite ordering the same.
    if len(g) >= 3 and len(u) >= 3 and min(g) > max(u):
        text = "reproduced"
    elif len(g) >= 3 and len(u) >= 3 and max(g) < min(u):
        text = "not reproduced (opposite direction)"
    else:
        text = "inconclusive"
    out.append("\nRule for this finding (κ has no Welch interval here): **reproduced** when every "
               "guided seed's κ exceeds every unguided seed's (exact one-sided permutation "
               "p = 0.05 at 3 against 3), **not reproduced** at the opposite ordering, else "
               f"**inconclusive**. Verdict: **{text}**.\n")
    out.append("![error consistency](f9-consistency/consistency.svg)\n")
    out.append("κ of every network of the two cells (targets and their guides): "
               "[f9-consistency/consistency.csv](f9-consistency/consistency.csv). Reproduce: "
               f"`build/bin/guidance analyze consistency TARGET/run.h5 GUIDED/run.h5 --side-b guide`"
               f" for the runs of `results/paper-runs/{study}`.\n")
    return text


def main():
    global CLI
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", default="results/paper-runs")
    parser.add_argument("--page", default="results/paper")
    parser.add_argument("--cli", default=CLI)
    parser.add_argument("--only", default="", help="comma-separated studies")
    args = parser.parse_args()
    CLI = args.cli
    only = [name for name in args.only.split(",") if name]
    findings = [f for f in FINDINGS
                if not only or any(s["name"] in only for s in f["studies"]) or
                (f.get("consistency") and f["consistency"]["study"] in only)]
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
    body, verdicts = [], []
    with tempfile.TemporaryDirectory() as scratch:
        for finding in findings:
            body.append(f"## {finding['id']}: {finding['title']}\n")
            body.append(f"**Paper:** {finding['paper_claim']}. {finding['paper_metric']}:\n")
            body.append("| paper's row | value |\n|---|---|")
            body += [f"| {name} | {value} |" for name, value in finding["paper_rows"]]
            body.append("")
            if finding.get("consistency"):
                study = finding["consistency"]["study"]
                if os.path.isdir(os.path.join(args.runs, study)):
                    text = consistency_section(finding["consistency"], summaries, args.runs,
                                               args.page, scratch, body)
                else:
                    body.append(f"Not run yet: `bash scripts/paper.sh {study}`.\n")
                    text = "not run"
                verdicts.append((finding, text, None))
                continue
            texts = []
            for spec in finding["studies"]:
                if os.path.isdir(os.path.join(args.runs, spec["name"])):
                    text = study_section(spec, summaries, args.runs, args.page, scratch, body)
                else:
                    body.append(f"**Study `{spec['name']}`** — {spec['setting']}: not run yet "
                                f"(`bash scripts/paper.sh {spec['name']}`).\n")
                    text = "not run"
                texts.append((spec["setting"], text))
            verdicts.append((finding, texts[0][1], texts))
            if finding["id"] in notes:
                body.append("**Our reading:** " + "".join(notes[finding["id"]]).strip() + "\n")
    page = ["# The paper's findings at CPU scale\n",
            "Each finding of Subramaniam et al., \"Training the Untrainable: Introducing "
            "Inductive Bias via Representational Alignment\" (arXiv 2410.20035), tested by a "
            "study of `configs/paper/` on a 2-core machine: Fashion-MNIST subsets for ImageNet, "
            "the synthetic tasks at modest lengths, a 245 kB local text for language modelling. "
            "Every cell has 3 seeds and 2 learning rates; each cell, baselines included, keeps "
            "the learning rate of lowest mean validation loss (`guidance summarize --tune "
            "train.learning_rate`, as the paper kept its lowest validation loss), and every "
            "value tried is listed. Every run's record is kept (`results/paper-runs/`, not "
            "committed). Final measures are of the best-validation weights unless a measure "
            "says `last` (the weights at the end of training).\n",
            VERDICT_RULE + "\n",
            f"The paper's figures are as the secondary source {PAPER_SOURCE} transcribes "
            "them (mean ± std over 5 seeds); they were not checked against the arXiv tables.\n",
            "Regenerate everything (hours; it resumes where it stopped): `bash scripts/paper.sh`."
            " This page alone, from the records: `/usr/bin/python3 scripts/paper-page.py`.\n",
            "| finding | paper | verdict here |", "|---|---|---|"]
    for finding, text, texts in verdicts:
        detail = text if not texts or len(texts) == 1 else "; ".join(
            f"{setting}: {t}" for setting, t in texts)
        page.append(f"| [{finding['id']}](#{finding['id'].lower()}-"
                    f"{finding['title'].lower().replace(' ', '-').replace(',', '').replace(';', '')}"
                    f") | {finding['paper_claim']} | {detail} |")
    page.append("")
    with open(os.path.join(args.page, "README.md"), "w") as f:
        f.write("\n".join(page + body) + "\n")
    print(f"wrote {os.path.join(args.page, 'README.md')}")


if __name__ == "__main__":
    main()
