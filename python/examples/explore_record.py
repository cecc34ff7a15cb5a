#!/usr/bin/python3
"""A tour of one run record with guidance_records, cell by cell (``# %%`` cells open as a notebook
in Jupyter, VS Code or Spyder):

    python3 explore_record.py results/my-run/run.h5 [--plot overview.png]

It prints what the run was, its training curve, its evaluations and final measures, the shapes of
the recorded activations and the last snapshot's similarity matrices. With ``--plot FILE`` and
matplotlib installed it also draws the losses and the last guide-target similarity matrix.
"""

# %% Setup: the module sits one folder up, in the source tree and where CMake installs it.
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from guidance_records import Record, RecordError  # noqa: E402  (needs the path above)


def print_matrix(similarity):
    """Prints a similarity matrix with its row and column tap names."""
    width = max(len(label) for label in similarity.row_labels)
    print(" " * width, "  ".join(f"{label:>10}" for label in similarity.column_labels))
    for label, row in zip(similarity.row_labels, similarity.matrix):
        print(f"{label:>{width}}", "  ".join(f"{value:10.4f}" for value in row))


def plot(record, path):
    """Draws the losses and the last snapshot's guide-target similarity into `path`, if
    matplotlib is installed."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"\n--plot {path}: matplotlib is not installed, no plot drawn")
        return
    training = record.training()
    figure, (losses, heatmap) = plt.subplots(1, 2, figsize=(11, 4))
    for column in ("task_loss", "guidance_loss", "total_loss"):
        losses.plot(training["step"], training[column], label=column)
    losses.set_xlabel("step")
    losses.legend()
    if record.taps("guide") and record.metrics:
        metric = record.metrics[0]
        matrix, rows, columns = record.similarity(metric, "guide_target")
        image = heatmap.imshow(matrix, cmap="viridis")
        heatmap.set_yticks(range(len(rows)), rows)
        heatmap.set_xticks(range(len(columns)), columns, rotation=90)
        heatmap.set_title(f"{metric}, step {record.snapshot_steps[-1]}")
        figure.colorbar(image, ax=heatmap)
    figure.tight_layout()
    figure.savefig(path)
    print(f"\nplot written to {path}")


def explore(record, plot_path):
    """Prints the tour of `record`."""
    # %% What the run was
    provenance = record.provenance
    print(f"record   {record.path} (format version {record.format_version})")
    print(f"state    {record.state}, best step {record.best_step}")
    print(f"made by  guidance {provenance['workbench_version']}, torch "
          f"{provenance['torch_version']}, on {provenance['host']} at "
          f"{provenance['start_time']}")
    for plugin in provenance["plugins"]:
        print(f"plugin   {plugin['kind']:<13} {plugin['name']} {plugin['version']}")
    print(f"config   {len(record.config.splitlines())} lines of TOML "
          f"(record.config; record.parsed_config() for a dict)")

    # %% Training curve
    training = record.training()
    steps = training["step"]
    print(f"\ntraining: {len(steps)} steps", end="")
    if len(steps):
        print(f", {steps[0]} to {steps[-1]}; task loss {training['task_loss'][0]:.4f} -> "
              f"{training['task_loss'][-1]:.4f}")
        for pair, distance in zip(record.pair_names, training["pair_distance"][-1]):
            print(f"  last distance {pair}: {distance:.4f}")
    else:
        print()

    # %% Evaluations during training, then the final measures (the best weights reloaded)
    during = record.evaluations(final=False)
    print(f"\nevaluations during training: {len(during)}")
    for row in during[-3:]:
        print(f"  step {row.step:>6} {row.split:<10} loss {row.loss:.4f}  {row.measures}")
    finals = record.evaluations(final=True)
    print(f"final measures (weights of step {record.best_step}):" if finals
          else "final measures: none yet (the run has not completed)")
    for row in finals:
        print(f"  {row.split:<10} loss {row.loss:.4f}  {row.measures}")

    # %% Snapshots: activations keep the shape of their tap
    snapshot_steps = record.snapshot_steps
    print(f"\nsnapshots at steps {snapshot_steps.tolist()} ({record.activation_dtype}), "
          f"{len(record.probe().indices)} probe examples")
    if not len(snapshot_steps):
        return
    for side in ("guide", "target"):
        for tap in record.taps(side):
            activations = record.activations(side, tap)
            print(f"  {side}.{tap}: {list(activations.shape)}, mean "
                  f"{np.mean(activations, dtype=np.float64):.4f}")

    # %% Similarity matrices of the last snapshot
    for metric in record.metrics:
        for which in ("guide_target", "target_target"):
            if which == "guide_target" and not record.taps("guide"):
                continue
            print(f"\n{metric}, {which}, step {snapshot_steps[-1]}:")
            print_matrix(record.similarity(metric, which))

    # %% Plots, when asked for and matplotlib is there
    if plot_path:
        plot(record, plot_path)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("record", help="a run record, results/<run>/run.h5")
    parser.add_argument("--plot", metavar="FILE", help="draw plots into FILE (needs matplotlib)")
    args = parser.parse_args()
    try:
        with Record(args.record) as record:
            explore(record, args.plot)
    except RecordError as error:
        print(f"explore_record.py: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
