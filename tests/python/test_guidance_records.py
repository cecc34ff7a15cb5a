#!/usr/bin/python3
"""Tests guidance_records (python/) against a real record: one small guided run with snapshots,
made by the built guidance binary, read by the module and independently with raw h5py.

    PYTHONPATH=python tests/python/test_guidance_records.py --cli build/bin/guidance [--workdir DIR]

The record is of format version 5: each activation dataset carries `example_shape`, every chunk a
Fletcher-32 checksum, every string an FNV-1a 64 checksum, and strings are fixed-length (h5py gives
bytes). The fallbacks for version 2 (no `example_shape`: activations come flattened), version 3 (no
checksums) and version 4 (variable-length strings) are tested on copies rewritten that way, damage
on copies with flipped bits.
"""
import csv
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import unittest

import h5py
import numpy as np

import cli_arguments
import guidance_records
from guidance_records import Record, RecordError

ARGS = None  # --cli and --workdir, parsed before unittest sees the command line

# Every tap of both networks is a sequence tap [L, D] = [LENGTH, WIDTH] per example, but for the
# transformer's module taps inside a block: the attention's qkv projection (3 · WIDTH) and the
# feed-forward's hidden layer (mlp_ratio 2 · WIDTH).
LENGTH, WIDTH = 8, 8
TAP_WIDTHS = {"attention.qkv": 3 * WIDTH, "feed_forward.0": 2 * WIDTH}


def tap_width(tap):
    return next((width for suffix, width in TAP_WIDTHS.items() if tap.endswith(suffix)), WIDTH)

# Small enough to train in a second: 4 steps an epoch, 3 epochs (so evaluations at steps 4, 8
# and 12, then the final rows), snapshots at steps 6 and 12.
CONFIG = f"""[run]
name = "python-reader"
seed = 5
threads = 1
output = "out"
checkpoint_every = 0

[dataset]
plugin = "parity"
format = "workbench"       # every batch padded to max_length, so every tap is [LENGTH, ...]
train_size = 128
validation_size = 32
test_size = 32
max_length = {LENGTH}

[target]
plugin = "rnn"
hidden = {WIDTH}

[guide]
plugin = "transformer"
width = {WIDTH}

[guide.init]
plugin = "untrained"

[train]
batch_size = 32
max_steps = 12
train_eval_size = 32

[record]
every = 6
probe_size = 16
metrics = ["linear-cka", "rsa"]
"""
SNAPSHOT_STEPS = [6, 12]


def raw_strings(dataset):
    return list(dataset.asstr()[()])


class RecordReaderTest(unittest.TestCase):
    """Each test compares the module with what raw h5py reads from the same file."""

    @classmethod
    def setUpClass(cls):
        os.makedirs(ARGS.workdir, exist_ok=True)
        cls.directory = tempfile.mkdtemp(prefix="guidance-records-", dir=ARGS.workdir)
        with open(os.path.join(cls.directory, "run.toml"), "w") as config:
            config.write(CONFIG)
        run = subprocess.run([ARGS.cli, "run", "run.toml"], cwd=cls.directory,
                             capture_output=True, text=True, timeout=300)
        if run.returncode != 0:
            raise RuntimeError(f"guidance run failed ({run.returncode}):\n{run.stderr}")
        cls.path = os.path.join(cls.directory, "out", "python-reader", "run.h5")
        cls.raw = h5py.File(cls.path, "r", swmr=True)
        cls.record = Record(cls.path)

    @classmethod
    def tearDownClass(cls):
        cls.record.close()
        cls.raw.close()
        shutil.rmtree(cls.directory)

    def copy_record(self, name):
        """A copy of the record to modify, removed after the test."""
        path = os.path.join(self.directory, name)
        shutil.copyfile(self.path, path)
        self.addCleanup(os.remove, path)
        return path

    def sides(self):
        return {side: raw_strings(self.raw[f"layout/{side}_taps"]) for side in ("guide", "target")}

    def test_config_and_provenance_match_the_record(self):
        self.assertEqual(self.record.config, self.raw["config"].asstr()[()])
        self.assertEqual(self.record.parsed_config()["run"]["name"], "python-reader")
        provenance = self.record.provenance
        attributes = self.raw["provenance"].attrs
        self.assertEqual(self.record.state, "completed")
        self.assertEqual(provenance["state"].encode(), attributes["state"])
        self.assertEqual(provenance["seed"], 5)
        self.assertEqual(self.record.best_step, int(attributes["best_step"]))
        self.assertIn(self.record.best_step, (4, 8, 12))
        self.assertEqual([plugin["name"] for plugin in provenance["plugins"]],
                         raw_strings(self.raw["provenance/plugins/name"]))
        self.assertEqual(provenance["resumed_at"], [])

    def test_training_columns_match_the_raw_datasets(self):
        training = self.record.training()
        group = self.raw["training"]
        self.assertEqual(sorted(training), sorted(group))
        self.assertEqual(training["step"].tolist(), list(range(1, 13)))
        for name, column in training.items():
            np.testing.assert_array_equal(column, group[name][:12], err_msg=name)
        self.assertEqual(training["pair_distance"].shape, (12, len(self.record.pair_names)))
        self.assertEqual(self.record.pair_names,
                         [label.decode() for label in group["pair_distance"].attrs["column_labels"]])

    def test_evaluation_rows_and_final_rows_match_the_raw_datasets(self):
        group = self.raw["evaluation"]
        splits = group["split"].asstr()[()]
        labels = [label.decode() for label in group["measures"].attrs["column_labels"]]
        rows = self.record.evaluations()
        self.assertEqual(len(rows), len(splits))
        for index, row in enumerate(rows):
            self.assertEqual(("best/" if row.final else "") + row.split, splits[index])
            self.assertEqual((row.step, row.epoch), (group["step"][index], group["epoch"][index]))
            self.assertEqual(row.loss, group["loss"][index])
            self.assertEqual(list(row.measures), labels)
            # assert_array_equal: NaN (not measured) equals NaN
            np.testing.assert_array_equal(list(row.measures.values()), group["measures"][index])

        during = self.record.evaluations("validation", final=False)
        self.assertEqual([row.step for row in during], [4, 8, 12])
        finals = self.record.evaluations(final=True)
        self.assertEqual([row.split for row in finals], ["train", "validation", "test"])
        test = self.record.final_evaluation("test")
        stored = list(splits).index("best/test")
        self.assertEqual(test.loss, group["loss"][stored])
        self.assertEqual([(row.step, row.final) for row in self.record.evaluations("test")],
                         [(test.step, True)])

    def test_summarize_reports_the_final_rows_this_reader_reads(self):
        """One rule for a run's final measures: `guidance summarize` (summary.csv, the mean of a
        cell of one run) gives each split's best-weights row, as final_evaluation does."""
        out = os.path.join(self.directory, "summary")
        run = subprocess.run([ARGS.cli, "summarize", os.path.join(self.directory, "out"),
                              "--out", out], capture_output=True, text=True, timeout=120)
        self.assertEqual(run.returncode, 0, run.stderr)
        with open(os.path.join(out, "summary.csv"), newline="") as table:
            (cell,) = list(csv.DictReader(table))
        for split in ("train", "validation", "test"):
            final = self.record.final_evaluation(split)
            for measure, value in final.measures.items():
                self.assertAlmostEqual(float(cell[f"{split} {measure} mean"]), value, places=9,
                                       msg=f"{split} {measure}")
            self.assertAlmostEqual(float(cell[f"{split} loss mean"]), final.loss, places=9)

    def test_activations_take_the_shape_of_their_example_shape_attribute(self):
        sides = self.sides()
        self.assertTrue(sides["guide"] and sides["target"])
        self.assertEqual(self.record.snapshot_steps.tolist(), SNAPSHOT_STEPS)
        for side, taps in sides.items():
            for tap in taps:
                dataset = self.raw[f"snapshots/activations/{side}/{tap}"]
                # Sequence taps of these networks are [L, D] per example.
                shape = [LENGTH, tap_width(tap)]
                self.assertEqual(dataset.attrs["example_shape"].tolist(), shape, tap)
                for snapshot in range(len(SNAPSHOT_STEPS)):
                    activations = self.record.activations(side, tap, snapshot)
                    self.assertEqual(activations.shape, (dataset.shape[1], *shape))
                    np.testing.assert_array_equal(activations.reshape(dataset.shape[1:]),
                                                  dataset[snapshot])

        side, tap = "target", sides["target"][0]
        path = self.copy_record("wrong-shape.h5")
        with h5py.File(path, "r+") as record:
            features = record[f"snapshots/activations/{side}/{tap}"].shape[2]
            record[f"snapshots/activations/{side}/{tap}"].attrs["example_shape"] = [features + 1]
        with Record(path) as record, self.assertRaises(RecordError) as caught:
            record.activations(side, tap)
        self.assertIn(path, str(caught.exception))
        self.assertIn(f"{features} features per example", str(caught.exception))

    def test_activations_without_example_shape_come_flattened(self):
        path = self.copy_record("version-2.h5")
        with h5py.File(path, "r+") as record:
            record.attrs["format_version"] = 2
            for side, taps in self.sides().items():
                for tap in taps:
                    del record[f"snapshots/activations/{side}/{tap}"].attrs["example_shape"]
        with Record(path) as record:
            for side, taps in self.sides().items():
                for tap in taps:
                    stored = self.raw[f"snapshots/activations/{side}/{tap}"]
                    activations = record.activations(side, tap)
                    self.assertEqual(activations.ndim, 2)
                    np.testing.assert_array_equal(activations, stored[-1])

    def flip_bits(self, path, offset, count=1):
        """Flips the lowest bit of `count` bytes at `offset` of a file."""
        with open(path, "r+b") as file:
            file.seek(offset)
            data = bytes(byte ^ 1 for byte in file.read(count))
            file.seek(offset)
            file.write(data)

    def test_a_damaged_activation_chunk_is_an_error_naming_the_dataset(self):
        path = self.copy_record("damaged-chunk.h5")
        tap = self.sides()["target"][0]
        name = f"snapshots/activations/target/{tap}"
        with h5py.File(path, "r") as record:
            chunk = record[name].id.get_chunk_info_by_coord((0, 0, 0))  # the first snapshot's
        self.flip_bits(path, chunk.byte_offset + chunk.size // 2, 4)
        with Record(path) as record:
            # The other snapshot's chunk is intact (read first: after a failed read, HDF5 1.10's
            # refresh of the dataset fails its later reads too).
            self.assertEqual(record.activations("target", tap, 1).shape[0], 16)
            with self.assertRaises(RecordError) as caught:
                record.activations("target", tap, 0)
            self.assertEqual(str(caught.exception), f"{path}: dataset '{name}' is damaged (its "
                                                    f"checksum does not match its contents)")

    def test_damaged_strings_are_errors_naming_the_dataset_or_attributes(self):
        path = self.copy_record("damaged-strings.h5")
        with open(path, "rb") as file:
            data = file.read()
        for text in (self.record.config[:40].encode(), b"completed"):
            self.assertEqual(data.count(text), 1, text)
            self.flip_bits(path, data.find(text) + 2)  # a letter stays a letter
        with Record(path) as record:
            self.assert_error_in(path, lambda: record.config,
                                 "dataset 'config' is damaged (its checksum does not match")
            # Attributes lie in the object header, which HDF5's own metadata checksum covers.
            for call in (lambda: record.state, lambda: record.provenance):
                self.assert_error_in(path, call, "the attributes of 'provenance' cannot be read "
                                     "(damaged?): Error iterating over attributes (incorrect "
                                     "metadata checksum")
            self.assertEqual(record.metrics, self.record.metrics)  # the intact ones still read

    def test_a_version_3_record_without_string_checksums_still_reads(self):
        path = self.copy_record("version-3.h5")
        with h5py.File(path, "r+") as record:
            record.attrs["format_version"] = 3

            def strip(name, node):
                for checksum in ("fnv1a64", "string_attributes_fnv1a64"):
                    if checksum in node.attrs:
                        del node.attrs[checksum]
            del record.attrs["string_attributes_fnv1a64"]
            record.visititems(strip)
        with Record(path) as record:
            self.assertEqual(record.format_version, 3)
            self.assertEqual(record.config, self.record.config)
            self.assertEqual(record.provenance, self.record.provenance)
            self.assertEqual(record.taps("guide"), self.record.taps("guide"))

    def test_a_version_4_record_with_variable_length_strings_reads_and_verifies(self):
        path = self.copy_record("version-4.h5")
        with h5py.File(path, "r+") as record:
            record.attrs["format_version"] = 4
            variable = h5py.string_dtype()

            def to_variable_length(node):
                for key, value in list(node.attrs.items()):
                    if isinstance(value, bytes) or (isinstance(value, np.ndarray)
                                                    and value.dtype.kind == "S"):
                        node.attrs.create(key, np.char.decode(np.asarray(value)).astype(object),
                                          dtype=variable)
                if isinstance(node, h5py.Dataset) and h5py.check_string_dtype(node.dtype):
                    name, values, attributes = node.name, node.asstr()[()], dict(node.attrs)
                    del record[name]  # node.name is None from here on
                    copy = record.create_dataset(name, data=values, dtype=variable)
                    for key, value in attributes.items():
                        copy.attrs[key] = value
            names = []
            record.visit(names.append)
            for node in [record] + [record[name] for name in names]:
                to_variable_length(node)
            self.assertTrue(record["config"].dtype.metadata["vlen"] is str)
            self.assertIsInstance(record["provenance"].attrs["state"], str)
        with Record(path) as record:
            self.assertEqual(record.format_version, 4)
            self.assertEqual(record.config, self.record.config)
            self.assertEqual(record.provenance, self.record.provenance)
            self.assertEqual(record.pair_names, self.record.pair_names)
        with h5py.File(path, "r+") as record:  # the checksums still hold the strings to account
            record["provenance"].attrs["state"] = "running"
        with Record(path) as record:
            self.assert_error_in(path, lambda: record.state, "the string attributes of "
                                 "'provenance' are damaged")

    def assert_error_in(self, path, call, expected):
        with self.assertRaises(RecordError) as caught:
            call()
        self.assertIn(f"{path}: {expected}", str(caught.exception))

    def test_similarity_matrices_and_labels_match_the_layout(self):
        sides = self.sides()
        metrics = raw_strings(self.raw["layout/metrics"])
        self.assertEqual(self.record.metrics, metrics)
        for metric in metrics:
            for which in guidance_records.SIMILARITIES:
                rows, columns = which.split("_")
                dataset = self.raw[f"snapshots/similarity/{metric}/{which}"]
                for snapshot in range(len(SNAPSHOT_STEPS)):
                    similarity = self.record.similarity(metric, which, snapshot)
                    self.assertEqual(similarity.row_labels, sides[rows])
                    self.assertEqual(similarity.column_labels, sides[columns])
                    np.testing.assert_array_equal(similarity.matrix, dataset[snapshot])
                matrix, _, _ = self.record.similarity(metric, which)
                np.testing.assert_array_equal(matrix, dataset[-1])

    def test_predictions_and_probe_match_the_raw_datasets(self):
        for network in ("target", "guide"):
            predictions = self.record.predictions(network)
            for field in guidance_records.Predictions._fields:
                np.testing.assert_array_equal(getattr(predictions, field),
                                              self.raw[f"predictions/{network}/{field}"][()])
        probe = self.record.probe()
        np.testing.assert_array_equal(probe.indices, self.raw["probe/indices"][()])
        np.testing.assert_array_equal(probe.labels, self.raw["probe/labels"][()])
        # Parity is generated: there is no file for the examples to lie in.
        self.assertNotIn("probe/source_rows", self.raw)
        self.assertIsNone(probe.source_rows)
        self.assertIsNone(probe.source_part)

    def test_every_name_of_the_schema_json_is_in_the_record_the_program_wrote(self):
        """The names the module reads (guidance_record_schema.json) are those the program
        writes: every group, dataset and attribute at a fixed place is in the record."""
        optional = {"probe_source_rows", "probe_source_part", "resumed_at"}  # not in this run
        checked = 0
        for key, entry in guidance_records.SCHEMA["names"].items():
            if key in optional or any(mark in entry["in"] for mark in "<*,"):
                continue
            if entry["kind"] == "attribute":
                self.assertIn(entry["name"], self.raw[entry["in"] or "/"].attrs, key)
            else:
                self.assertIn(entry["path"], self.raw, key)
            checked += 1
        self.assertGreater(checked, 20)
        side, tap = "target", self.sides()["target"][0]
        activations = self.raw[guidance_records.SCHEMA["names"]["activations"]["path"]]
        self.assertIn(guidance_records.SCHEMA["names"]["example_shape"]["name"],
                      activations[side][tap].attrs)

    def test_the_module_reads_the_record_by_the_names_of_its_schema_json(self):
        """A copy of the module beside a schema that renames two objects reads a copy of the
        record with them renamed so, as the module reads the record itself."""
        directory = tempfile.mkdtemp(prefix="renamed-", dir=self.directory)
        self.addCleanup(shutil.rmtree, directory)
        shutil.copy(guidance_records.__file__, directory)
        schema = json.loads(json.dumps(guidance_records.SCHEMA))
        names = schema["names"]
        renamed = {"probe_labels": "renamed_labels", "similarity": "renamed_similarity"}
        moves = []
        for key, name in renamed.items():
            entry = names[key]
            moves.append((entry["path"], f"{entry['in']}/{name}"))
            entry["name"], entry["path"] = name, f"{entry['in']}/{name}"
        with open(os.path.join(directory, "guidance_record_schema.json"), "w") as file:
            json.dump(schema, file)
        path = self.copy_record("renamed.h5")
        with h5py.File(path, "r+") as record:
            for old, new in moves:
                record.move(old, new)
        spec = importlib.util.spec_from_file_location(
            "renamed_records", os.path.join(directory, "guidance_records.py"))
        renamed_records = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(renamed_records)
        metric = self.record.metrics[0]
        with renamed_records.Record(path) as record:
            np.testing.assert_array_equal(record.probe().labels, self.record.probe().labels)
            np.testing.assert_array_equal(record.similarity(metric, "guide_target").matrix,
                                          self.record.similarity(metric, "guide_target").matrix)
        with Record(path) as record, self.assertRaises(RecordError):
            record.probe()

    def assert_error(self, call, *expected):
        """`call` raises RecordError whose message names the file and each of `expected`."""
        with self.assertRaises(RecordError) as caught:
            call()
        for text in (self.path, *expected):
            self.assertIn(text, str(caught.exception))

    def test_missing_names_are_errors_that_list_the_names_there_are(self):
        target_taps = self.sides()["target"]
        self.assert_error(lambda: self.record.activations("target", "no-such-tap"),
                          "'no-such-tap'", ", ".join(target_taps))
        self.assert_error(lambda: self.record.activations("teacher", target_taps[0]),
                          "'teacher'", "guide, target")
        self.assert_error(lambda: self.record.similarity("cosine", "guide_target"),
                          "'cosine'", "linear-cka, rsa")
        self.assert_error(lambda: self.record.similarity("rsa", "target_guide"),
                          "'target_guide'", ", ".join(guidance_records.SIMILARITIES))
        self.assert_error(lambda: self.record.activations("target", target_taps[0], 2),
                          "no snapshot 2", "6, 12")
        self.assert_error(lambda: self.record.snapshot_index(7), "step 7", "6, 12")
        self.assert_error(lambda: self.record.predictions("student"), "'student'",
                          "guide, target")
        self.assert_error(lambda: self.record.final_evaluation("holdout"), "'holdout'",
                          "train, validation, test")

    def test_a_file_that_is_not_a_run_record_is_refused(self):
        other = os.path.join(self.directory, "other.h5")
        with h5py.File(other, "w") as f:
            f.attrs["format"] = "something-else"
        self.addCleanup(os.remove, other)
        with self.assertRaisesRegex(RecordError, re.escape(other) + " is not a guidance run "
                                    "record .*'something-else'.*'guidance-run-record'"):
            Record(other)
        text = os.path.join(self.directory, "run.toml")
        with self.assertRaisesRegex(RecordError, re.escape(text) + " is not an HDF5 file"):
            Record(text)
        missing = os.path.join(self.directory, "missing.h5")
        with self.assertRaisesRegex(RecordError, "no record at " + re.escape(missing)):
            Record(missing)

    def test_a_newer_format_version_is_refused_naming_both(self):
        path = self.copy_record("newer.h5")
        newer = guidance_records.FORMAT_VERSION + 1
        with h5py.File(path, "r+") as record:
            record.attrs["format_version"] = newer
        with self.assertRaisesRegex(RecordError, re.escape(path) + f" has record format version "
                                    f"{newer}; this module reads versions 1 to "
                                    f"{guidance_records.FORMAT_VERSION}"):
            Record(path)

    def test_a_live_record_shows_complete_rows_only_and_a_killed_one_still_opens(self):
        path = self.copy_record("live.h5")
        # A SWMR writer in another process, told what to do on its stdin, says when it is done.
        writer_script = textwrap.dedent("""
            import sys, h5py
            record = h5py.File(sys.argv[1], "r+", libver="latest")
            record.swmr_mode = True

            def grow(name, dataset):
                if isinstance(dataset, h5py.Dataset) and name != "step":
                    dataset.resize(dataset.shape[0] + 1, axis=0)
                    if dataset.dtype.kind != "S":  # evaluation/split keeps its empty fill
                        dataset[-1] = -1
                    dataset.flush()

            print("open", flush=True)
            sys.stdin.readline()  # a row of every column and a snapshot, but no step yet
            for table in ("training", "evaluation", "snapshots"):
                record[table].visititems(grow)
            print("grown", flush=True)
            sys.stdin.readline()  # the step, written last, completes the training row
            step = record["training/step"]
            step.resize(step.shape[0] + 1, axis=0)
            step[-1] = 13
            step.flush()
            print("stepped", flush=True)
            sys.stdin.readline()  # killed before it reads a line
            """)
        target_tap = self.sides()["target"][-1]
        stored = self.raw[f"snapshots/activations/target/{target_tap}"][-1]
        with subprocess.Popen([sys.executable, "-c", writer_script, path], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True) as writer:
            def tell(line, reply):
                writer.stdin.write(line + "\n")
                writer.stdin.flush()
                self.assertEqual(writer.stdout.readline(), reply + "\n")

            try:
                self.assertEqual(writer.stdout.readline(), "open\n")
                with Record(path) as record:
                    self.assertEqual(len(record.training()["step"]), 12)
                    tell("grow", "grown")
                    for name, column in record.training().items():
                        self.assertEqual(len(column), 12, name)
                    np.testing.assert_array_equal(
                        record.activations("target", target_tap).reshape(stored.shape), stored)
                    self.assertEqual(len(record.evaluations()), len(self.raw["evaluation/step"]))
                    tell("step", "stepped")
                    self.assertEqual(record.training()["step"].tolist(), list(range(1, 14)))
                    self.assertEqual(record.training()["task_loss"][-1], -1)
            finally:
                writer.kill()
        with Record(path) as record:
            self.assertEqual(len(record.training()["step"]), 13)
            self.assertEqual(record.snapshot_steps.tolist(), SNAPSHOT_STEPS)

    def test_the_example_script_tours_the_record(self):
        script = os.path.join(os.path.dirname(guidance_records.__file__), "examples",
                              "explore_record.py")
        tour = subprocess.run([sys.executable, script, self.path], capture_output=True,
                              text=True, timeout=120)
        self.assertEqual(tour.returncode, 0, tour.stderr)
        test = self.record.final_evaluation("test")
        self.assertIn(f"{'test':<10} loss {test.loss:.4f}", tour.stdout)
        for side, taps in self.sides().items():
            for tap in taps:
                shape = list(self.record.activations(side, tap).shape)
                self.assertIn(f"{side}.{tap}: {shape}", tour.stdout)
        self.assertIn(f"linear-cka, guide_target, step {SNAPSHOT_STEPS[-1]}:", tour.stdout)

        refused = subprocess.run([sys.executable, script, os.path.join(self.directory, "run.toml")],
                                 capture_output=True, text=True, timeout=120)
        self.assertEqual(refused.returncode, 1)
        self.assertIn("is not an HDF5 file", refused.stderr)


class ProbeSourceTest(unittest.TestCase):
    """A user finds a run's probe examples in the dataset's own files: a Fashion-MNIST-format run
    on IDX files written here, whose probe (carved from the training file) is looked up by
    ``probe.source_rows`` in the files themselves."""

    TRAIN, TEST, SIDE = 100, 20, 6

    @staticmethod
    def write_idx(path, magic, array):
        with open(path, "wb") as out:
            out.write(np.array([magic, *array.shape], dtype=">u4").tobytes())
            out.write(array.astype(np.uint8).tobytes())

    def test_the_recorded_source_rows_find_the_probe_examples_in_the_training_file(self):
        os.makedirs(ARGS.workdir, exist_ok=True)
        directory = tempfile.mkdtemp(prefix="guidance-probe-source-", dir=ARGS.workdir)
        self.addCleanup(shutil.rmtree, directory)
        rng = np.random.default_rng(3)
        data = {}
        for part, count in (("train", self.TRAIN), ("t10k", self.TEST)):
            images = rng.integers(0, 256, size=(count, self.SIDE, self.SIDE))
            labels = rng.integers(0, 10, size=count)
            self.write_idx(os.path.join(directory, f"{part}-images-idx3-ubyte"), 0x803, images)
            self.write_idx(os.path.join(directory, f"{part}-labels-idx1-ubyte"), 0x801, labels)
            data[part] = labels
        with open(os.path.join(directory, "run.toml"), "w") as config:
            config.write(textwrap.dedent("""\
                [run]
                name = "probe-source"
                threads = 1
                output = "out"
                [dataset]
                plugin = "fashion-mnist"
                directory = "."
                validation_size = 40
                [target]
                plugin = "mlp"
                depth = 1
                width = 8
                [train]
                batch_size = 20
                max_steps = 2
                [record]
                probe_size = 16
                """))
        run = subprocess.run([ARGS.cli, "run", "run.toml"], cwd=directory, capture_output=True,
                             text=True, timeout=300)
        self.assertEqual(run.returncode, 0, run.stderr)
        with Record(os.path.join(directory, "out", "probe-source", "run.h5")) as record:
            probe = record.probe()
        self.assertEqual(probe.source_part, "train")
        self.assertEqual(len(probe.source_rows), 16)
        self.assertEqual(len(set(probe.source_rows.tolist())), 16)
        # The validation split is carved from the training file: its rows are not its indices.
        self.assertFalse(np.array_equal(probe.source_rows, probe.indices))
        np.testing.assert_array_equal(data["train"][probe.source_rows], probe.labels)


def main():
    global ARGS
    ARGS, rest = cli_arguments.parsed(__doc__)
    unittest.main(argv=[sys.argv[0], *rest])


if __name__ == "__main__":
    main()
