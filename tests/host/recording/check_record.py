#!/usr/bin/python3
"""Checks a guidance run record with h5py and NumPy only, as a user of the format would read it
(docs/record-format.md): names, shapes, dtypes, labels, and similarity matrices recomputed from the
stored activations. Exits 1 with the first failed check on stderr, 0 after printing "ok"."""

import argparse
import sys

import h5py
import numpy as np


def steps_argument(text):
    """"1:25" is the inclusive range 1..25; "10,20" a list; "" none."""
    if ":" in text:
        first, last = text.split(":")
        return list(range(int(first), int(last) + 1))
    return [int(step) for step in text.split(",") if step]


def linear_cka(x, y):
    """Linear CKA in its n × n Gram form (cheap for wide activations)."""
    x = x - x.mean(axis=0, keepdims=True)
    y = y - y.mean(axis=0, keepdims=True)
    k, l = x @ x.T, y @ y.T
    return (k * l).sum() / (np.linalg.norm(k) * np.linalg.norm(l))


def strings(dataset):
    return [s for s in dataset.asstr()[()]] if dataset.shape != () else [dataset.asstr()[()]]


def expect(condition, message):
    if not condition:
        raise AssertionError(message)


def text(value):
    """A string attribute as text: h5py gives fixed-length strings (format version 5) as bytes."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray):
        return [text(item) for item in value.tolist()]
    return value


def check(record, args):
    expect(text(record.attrs["format"]) == "guidance-run-record", "root attribute format")
    expect(int(record.attrs["format_version"]) == 5, "format_version")
    # Version 4: every dataset with data is chunked with Fletcher-32 last in its pipeline, every
    # string dataset has its FNV-1a 64 (guidance_records verifies the values). Version 5: strings
    # are fixed-length, so the file has no global heap for damage to crash HDF5 in.
    def checksums(name, node):
        for attribute in node.attrs:
            kind = h5py.h5a.open(node.id, attribute.encode()).get_type()
            expect(not (kind.get_class() == h5py.h5t.STRING and kind.is_variable_str()),
                   f"{name} attribute {attribute} is a fixed-length string")
        if not isinstance(node, h5py.Dataset):
            return
        if node.chunks is not None:
            expect(node.fletcher32, f"{name} has a Fletcher-32 checksum")
        string = h5py.check_string_dtype(node.dtype)
        if string is not None:
            expect(string.length is not None, f"{name} holds fixed-length strings")
            if node.chunks is None:  # a table's string column is chunked, with Fletcher-32
                expect("fnv1a64" in node.attrs, f"{name} has its string checksum")
    record.visititems(checksums)
    expect("string_attributes_fnv1a64" in record["provenance"].attrs, "provenance string checksum")
    config = record["config"].asstr()[()]
    expect(isinstance(config, str) and "[run]" in config, "config is the TOML text")

    provenance = {key: text(value) for key, value in record["provenance"].attrs.items()}
    expect(provenance["state"] == args.state, f"state is {provenance['state']!r}")
    for key in ("workbench_version", "torch_version", "hdf5_version", "host", "start_time"):
        expect(isinstance(provenance[key], str) and provenance[key], f"provenance {key}")
    expect(provenance["seed"].dtype == np.uint64, "seed is uint64")
    expect(strings(record["provenance/plugins/name"]) == ["linear-cka"], "plugin names")
    expect(int(provenance["best_step"]) >= -1, "best_step")
    if "predictions" in record:
        for network in record["predictions"]:
            group = record["predictions"][network]
            n = len(group["indices"])
            expect(group["predicted"].shape[0] == n and group["correct"].shape == group["predicted"].shape,
                   f"predictions/{network} shapes")
            expect(group["correct"].dtype == np.int8 and set(np.unique(group["correct"][()])) <= {-1, 0, 1},
                   f"predictions/{network}/correct values")
    if args.resumed is not None:
        expect(len(provenance.get("resumed_at", [])) == args.resumed, "resumed_at entries")

    layout = {name: strings(record["layout/" + name]) for name in
              ("pair_names", "measure_names", "guide_taps", "target_taps", "metrics")}

    training = record["training"]
    steps = training["step"][()]
    expect(training["step"].dtype == np.int64, "training/step is int64")
    expect(steps.tolist() == args.training_steps,
           f"training steps {steps.tolist()} != {args.training_steps}")
    rows = len(steps)
    for column in ("epoch", "learning_rate", "total_loss", "task_loss", "guidance_loss"):
        expect(training[column].shape[0] >= rows, f"training/{column} has every row")
    expect(training["learning_rate"].dtype == np.float64, "learning_rate is float64")
    distances = training["pair_distance"]
    expect(distances.shape[1] == len(layout["pair_names"]), "pair_distance columns")
    expect(text(distances.attrs["column_labels"]) == layout["pair_names"],
           "pair_distance column labels")
    guidance = training["guidance_loss"][:rows]
    expect(np.allclose(distances[:rows].sum(axis=1), guidance), "guidance = sum of pairs")

    evaluation = record["evaluation"]
    if args.evaluation_steps is not None:
        expect(evaluation["step"][()].tolist() == args.evaluation_steps, "evaluation steps")
    count = len(evaluation["step"])
    if count:
        splits = evaluation["split"].asstr()[:count]
        expect(set(splits) == {"validation"}, f"evaluation splits {set(splits)}")
        expect(text(evaluation["measures"].attrs["column_labels"]) == layout["measure_names"],
               "measure labels")

    probe = record["probe"]
    n = probe["indices"].shape[0]
    expect(probe["indices"].dtype == np.int64 and probe["labels"].shape[0] == n, "probe")

    snapshots = record["snapshots"]
    snapshot_steps = snapshots["step"][()].tolist()
    expect(snapshot_steps == args.snapshot_steps,
           f"snapshot steps {snapshot_steps} != {args.snapshot_steps}")
    expect(text(snapshots.attrs["activation_dtype"]) == args.activation_dtype, "activation_dtype")
    sides = {"guide": layout["guide_taps"], "target": layout["target_taps"]}
    activations = {}
    for side, taps in sides.items():
        for tap in taps:
            dataset = snapshots[f"activations/{side}/{tap}"]
            expect(dataset.dtype == np.dtype(args.activation_dtype), f"{dataset.name} dtype")
            expect(dataset.shape[0] >= len(snapshot_steps) and dataset.shape[1] == n,
                   f"{dataset.name} shape {dataset.shape}")
            example_shape = dataset.attrs["example_shape"]
            expect(example_shape.dtype == np.int64 and example_shape.ndim == 1
                   and int(np.prod(example_shape)) == dataset.shape[2],
                   f"{dataset.name} example_shape {example_shape} for {dataset.shape[2]} features")
            if f"{side}/{tap}" in args.example_shape:
                expected = args.example_shape[f"{side}/{tap}"]
                expect(example_shape.tolist() == expected,
                       f"{dataset.name} example_shape {example_shape.tolist()} != {expected}")
            activations[side, tap] = dataset

    pairs = [("target", "target")]
    if layout["guide_taps"]:
        pairs += [("guide", "target"), ("guide", "guide")]
    for metric in layout["metrics"]:
        for rows_side, columns_side in pairs:
            dataset = snapshots[f"similarity/{metric}/{rows_side}_{columns_side}"]
            expect(text(dataset.attrs["row_labels"]) == sides[rows_side], "row labels")
            expect(text(dataset.attrs["column_labels"]) == sides[columns_side], "column labels")
            expect(dataset.shape[1:] == (len(sides[rows_side]), len(sides[columns_side])),
                   f"{dataset.name} shape {dataset.shape}")
            for s in range(len(snapshot_steps)):
                stored = dataset[s]
                for i, row_tap in enumerate(sides[rows_side]):
                    for j, column_tap in enumerate(sides[columns_side]):
                        x = activations[rows_side, row_tap][s].astype(np.float64)
                        y = activations[columns_side, column_tap][s].astype(np.float64)
                        expected = linear_cka(x, y)
                        expect(abs(stored[i, j] - expected) <= args.tolerance,
                               f"{dataset.name}[{s}, {i}, {j}] = {stored[i, j]}, "
                               f"recomputed {expected}")


def example_shape_argument(text):
    """"guide/conv1=64,14,14": the expected example_shape of one tap."""
    tap, shape = text.split("=")
    return tap, [int(size) for size in shape.split(",") if size]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("path")
    parser.add_argument("--swmr", action="store_true", help="open as a SWMR reader")
    parser.add_argument("--state", default="completed")
    parser.add_argument("--training-steps", type=steps_argument, required=True)
    parser.add_argument("--snapshot-steps", type=steps_argument, required=True)
    parser.add_argument("--evaluation-steps", type=steps_argument)
    parser.add_argument("--activation-dtype", default="float32")
    parser.add_argument("--tolerance", type=float, default=1e-5)
    parser.add_argument("--resumed", type=int)
    parser.add_argument("--example-shape", type=example_shape_argument, action="append",
                        default=[], help="SIDE/TAP=D1,D2,...: a tap's expected example_shape")
    args = parser.parse_args()
    args.example_shape = dict(args.example_shape)
    try:
        with h5py.File(args.path, "r", swmr=args.swmr) as record:
            check(record, args)
    except (AssertionError, KeyError, OSError) as error:
        print(f"check_record.py: {args.path}: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
