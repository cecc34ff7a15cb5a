"""Read guidance run records (``run.h5``) from Python with h5py and NumPy only.

The record format is documented in ``docs/record-format.md``; this module is a thin, typed view of
it, and ``docs/python.md`` shows how to use it::

    from guidance_records import Record
    with Record("results/my-run/run.h5") as record:
        training = record.training()                   # dict of NumPy columns
        final = record.final_evaluation("test")        # the best weights on the test split
        x = record.activations("target", "layer1")     # last snapshot, [n, *example_shape]
        matrix, rows, columns = record.similarity("linear-cka", "guide_target")

A record is opened read-only as an HDF5 single-writer/multiple-reader (SWMR) reader, so records of
live, killed and finished runs all open. Every error is a :class:`RecordError` whose message names
the file and, for a missing name, the names there are. Damage is an error too: HDF5 verifies the
Fletcher-32 checksum of each chunk it reads and of the object headers, and this module the
checksums of the strings (format version 4 on), so a damaged dataset or string is a :class:`RecordError` naming the file and
the object, never a silently wrong value.

The record's names (groups, datasets, attributes) are not spelled here: they are read from
``guidance_record_schema.json`` beside this file, the output of ``guidance schema --json``, which
lists what ``host/recording/RecordSchema.h`` declares for the writer and the C++ readers alike.

It is one module rather than a package so that using it needs nothing but this file and its
``guidance_record_schema.json`` on ``PYTHONPATH`` (or copied beside a notebook); it has no
submodules to organise.
"""

import collections
import ctypes
import json
import os
import sys

import h5py
import numpy as np

__all__ = ["SCHEMA", "FORMAT_NAME", "FORMAT_VERSION", "FINAL_SPLIT_PREFIX", "SIDES",
           "SIMILARITIES", "RecordError", "Record", "Evaluation", "Similarity", "Predictions",
           "Probe"]

SCHEMA_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                           "guidance_record_schema.json")


def _load_schema(path):
    """The record layout ``guidance schema --json`` printed, from ``path``."""
    try:
        with open(path, encoding="utf-8") as file:
            return json.load(file)
    except (OSError, ValueError) as error:
        raise ImportError(f"guidance_records needs the record layout {path} (made by "
                          f"'guidance schema --json', installed beside this module): "
                          f"{error}") from error


SCHEMA = _load_schema(SCHEMA_PATH)
"""The record layout (``guidance schema --json``): ``SCHEMA["names"][key]`` gives each name's
``name``, ``kind``, where it lies (``in``, and ``path`` for groups and datasets) and ``meaning``."""

# Each name of the record by its key, and the path of each group and dataset.
_NAME = {key: entry["name"] for key, entry in SCHEMA["names"].items()}
_PATH = {key: entry["path"] for key, entry in SCHEMA["names"].items() if "path" in entry}

FORMAT_NAME = SCHEMA["format"]
"""The root attribute ``format`` of every run record."""

FORMAT_VERSION = SCHEMA["format_version"]
"""The newest record format version this module reads (it reads 1 to this one)."""

FINAL_SPLIT_PREFIX = SCHEMA["final_split_prefix"]
"""Prefix of the stored ``evaluation/split`` of the final rows (the reloaded best weights)."""

SIDES = tuple(SCHEMA["sides"])
"""The networks whose activations a record holds."""

SIMILARITIES = tuple(SCHEMA["similarities"])
"""The similarity matrices of each metric: rows side, then columns side."""

# Attribute of an activation dataset (format version 3): the tap's shape per example.
_EXAMPLE_SHAPE = _NAME["example_shape"]

# Format version 4: the FNV-1a 64 checksums of strings, which no HDF5 checksum covers
# (docs/record-format.md, "Checksums"). Version 5 stores them fixed-length, which h5py reads as
# bytes: _text() gives them back as str.
_STRINGS_CHECKSUM = _NAME["strings_checksum"]
_STRING_ATTRIBUTES_CHECKSUM = _NAME["string_attributes_checksum"]
_FNV_OFFSET_BASIS = 0xcbf29ce484222325
_FNV_PRIME = 0x100000001b3
_DAMAGED = "is damaged (its checksum does not match its contents)"


class RecordError(Exception):
    """A record that is missing, is not a run record, is too new, or lacks what was asked for.

    The message names the file, and for a missing tap, metric, split or network the names the
    record has.
    """


Evaluation = collections.namedtuple("Evaluation", "step epoch split final loss measures")
Evaluation.__doc__ = """One evaluation of one split.

``split`` is ``"train"``, ``"validation"`` or ``"test"``; ``final`` says whether the row
evaluates the weights reloaded after training (stored as ``best/<split>``), ``measures`` maps
each measure name (``layout/measure_names``) to its value (NaN = not measured)."""

Similarity = collections.namedtuple("Similarity", "matrix row_labels column_labels")
Similarity.__doc__ = """One snapshot's similarity matrix: ``matrix[i, j]`` compares the row tap
``row_labels[i]`` with the column tap ``column_labels[j]``; unpacks as
``matrix, rows, columns``."""

Predictions = collections.namedtuple("Predictions", "indices predicted correct")
Predictions.__doc__ = """Per-example test predictions of the final weights of one network:
``indices`` [N] (test examples), ``predicted`` [N] or [N, L], ``correct`` int8 [N] or [N, L]
(1 right, 0 wrong, -1 position not scored)."""

Probe = collections.namedtuple("Probe", "indices labels source_part source_rows")
Probe.__doc__ = """The fixed probe examples whose activations snapshots hold: ``indices`` [n]
(validation examples), ``labels`` [n] or [n, L], and where the examples lie in the data the
dataset read: ``source_rows`` [n], 0-based rows of the part ``source_part`` names (``"train"``: the
training file); both ``None`` when the dataset does not say (generated data, older records)."""


def _names(names):
    """``"a, b"``, or ``"none"`` for no names: the names a record has, for error messages."""
    return ", ".join(str(name) for name in names) or "none"


def _fnv1a(hash_, data):
    """FNV-1a 64 of the bytes ``data``, continuing the running hash ``hash_``."""
    for byte in data:
        hash_ = ((hash_ ^ byte) * _FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return hash_


def _strings_checksum(hash_, strings):
    """FNV-1a 64 continued over ``strings`` (bytes): their count, then each one's length and
    bytes; counts and lengths as 8 little-endian bytes."""
    hash_ = _fnv1a(hash_, len(strings).to_bytes(8, "little"))
    for value in strings:
        hash_ = _fnv1a(hash_, len(value).to_bytes(8, "little"))
        hash_ = _fnv1a(hash_, value)
    return hash_


def _attribute_bytes(node, name):
    """The strings of a string attribute as the bytes stored (a fixed-length one up to its
    first NUL, as the writer reads it)."""
    attribute = h5py.h5a.open(node.id, name.encode())
    if not attribute.get_type().is_variable_str():
        return [bytes(value).split(b"\0", 1)[0] for value in np.ravel(node.attrs[name])]
    values = np.empty(attribute.shape, dtype=h5py.string_dtype(encoding="ascii"))
    attribute.read(values)
    return [bytes(value) for value in values.reshape(-1)]


# HDF5 1.10 retries a metadata read whose checksum fails 100 times for a SWMR reader, doubling its
# sleep each time: a damaged object header would hang the reader for good. The C++ reader allows
# 8 attempts (host/recording/RecordFormat.cpp); h5py has no call for it, so HDF5's own is reached
# through ctypes in the library h5py loaded (found in /proc/self/maps; where it cannot be, h5py's
# default stands).
_METADATA_READ_ATTEMPTS = 8


def _set_metadata_read_attempts(access):
    """Sets the read attempts of the file access property list ``access``; False where it cannot."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "libhdf5" in line}
    except OSError:
        return False
    for path in sorted(paths):
        try:
            setter = ctypes.CDLL(path).H5Pset_metadata_read_attempts
        except (OSError, AttributeError):
            continue
        setter.argtypes = [ctypes.c_int64, ctypes.c_uint]
        setter.restype = ctypes.c_int
        return setter(access.id, _METADATA_READ_ATTEMPTS) >= 0
    return False


def _open_swmr(path):
    """``path`` opened read-only as a SWMR reader that gives up on damaged metadata."""
    access = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    _set_metadata_read_attempts(access)
    flags = h5py.h5f.ACC_RDONLY | h5py.h5f.ACC_SWMR_READ
    return h5py.File(h5py.h5f.open(os.fsencode(path), flags, fapl=access))


def _text(value):
    """An attribute's value with its strings as ``str``, whether stored variable-length (format
    versions 1 to 4, which h5py gives as ``str``) or fixed-length (version 5: ``bytes``)."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray) and value.dtype.kind == "S":
        return np.array([item.decode("utf-8") for item in value.reshape(-1)],
                        dtype=object).reshape(value.shape)
    return value


class Record:
    """One run record, opened read-only as a SWMR reader; use it as a context manager.

    Tables are read afresh at each call, so in a live run's record each call sees the rows
    flushed so far (snapshot datasets created after opening appear only after reopening: the
    writer adds them to a copy that replaces the file).

    Attributes: ``path`` (as given) and ``format_version`` (the file's, 1 to
    :data:`FORMAT_VERSION`).

    :param path: the record, e.g. ``results/<run.name>/run.h5``.
    :raises RecordError: if the file is missing, is not an HDF5 file, is not a run record, or has
        a newer format version than :data:`FORMAT_VERSION`.
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        if not os.path.isfile(self.path):
            raise RecordError(f"no record at {self.path}")
        if not h5py.is_hdf5(self.path):
            raise RecordError(f"{self.path} is not an HDF5 file")
        try:
            self._file = _open_swmr(self.path)
        except OSError as error:
            raise RecordError(f"cannot open the record {self.path} (damaged or truncated?): "
                              f"{error}") from error
        try:
            self.format_version = self._check_format()
        except RecordError:
            self._file.close()
            raise

    def _check_format(self):
        """The file's format version, once it is known to be a run record this module reads."""
        attributes = self._attributes(self._file)
        found = attributes.get(_NAME["format"], "")
        if found != FORMAT_NAME:
            raise RecordError(f"{self.path} is not a guidance run record (root attribute "
                              f"{_NAME['format']} is {found!r}, expected {FORMAT_NAME!r})")
        if _NAME["format_version"] not in attributes:
            raise RecordError(f"{self.path} has no root attribute {_NAME['format_version']}")
        version = int(attributes[_NAME["format_version"]])
        if not 1 <= version <= FORMAT_VERSION:
            raise RecordError(f"{self.path} has record format version {version}; this module "
                              f"reads versions 1 to {FORMAT_VERSION} (use a newer "
                              f"guidance_records.py)")
        return version

    def close(self):
        """Closes the file; the record's arrays already returned stay valid."""
        self._file.close()

    def __enter__(self):
        """``with Record(path) as record:`` closes the file at the end of the block."""
        return self

    def __exit__(self, *exception):
        self.close()

    def __repr__(self):
        return f"Record({self.path!r})"

    def _dataset(self, name):
        """The dataset ``name``, refreshed so that a live run's newest rows are visible."""
        if name not in self._file:
            raise RecordError(f"{self.path}: dataset '/{name}' is missing")
        dataset = self._file[name]
        dataset.refresh()
        return dataset

    def _read(self, dataset, selection=(), text=False):
        """``dataset[selection]`` (decoded to ``str`` when ``text``); HDF5's refusal of a damaged
        chunk (its Fletcher-32 checksum fails) becomes a :class:`RecordError` naming it."""
        try:
            return (dataset.asstr() if text else dataset)[selection]
        except OSError as error:
            name = dataset.name.lstrip("/")
            if "fletcher32" in str(error).lower():
                raise RecordError(f"{self.path}: dataset '{name}' {_DAMAGED}") from error
            raise RecordError(f"{self.path}: dataset '{name}' cannot be read: {error}") from error

    def _strings(self, name):
        """The strings of a string dataset, checked against its checksum when it has one: a
        ``str`` for a scalar dataset, else a list."""
        dataset = self._dataset(name)
        stored = self._read(dataset)
        values = [bytes(value) for value in ([stored] if dataset.shape == () else stored)]
        if _STRINGS_CHECKSUM in dataset.attrs:
            if int(dataset.attrs[_STRINGS_CHECKSUM]) != _strings_checksum(_FNV_OFFSET_BASIS,
                                                                            values):
                raise RecordError(f"{self.path}: dataset '{name}' {_DAMAGED}")
        texts = [value.decode("utf-8") for value in values]
        return texts[0] if dataset.shape == () else texts

    def _attributes(self, node):
        """``node.attrs`` as a dict (strings as ``str``), once its string attributes pass their
        checksum (when it has one)."""
        try:
            attributes = {name: _text(value) for name, value in node.attrs.items()}
        except (OSError, RuntimeError) as error:
            raise RecordError(f"{self.path}: the attributes of '{node.name.lstrip('/') or '/'}' "
                              f"cannot be read (damaged?): {error}") from error
        if _STRING_ATTRIBUTES_CHECKSUM in attributes:
            hash_ = _FNV_OFFSET_BASIS
            for name in sorted(attributes, key=lambda key: key.encode()):
                if h5py.h5a.open(node.id, name.encode()).get_type().get_class() != h5py.h5t.STRING:
                    continue
                hash_ = _strings_checksum(hash_, [name.encode()])
                hash_ = _strings_checksum(hash_, _attribute_bytes(node, name))
            if int(attributes[_STRING_ATTRIBUTES_CHECKSUM]) != hash_:
                raise RecordError(f"{self.path}: the string attributes of "
                                  f"'{node.name.lstrip('/') or '/'}' are damaged (their checksum "
                                  f"does not match their contents)")
        return attributes

    def _rows(self, table):
        """The number of complete rows of a table: its ``step`` column is written last."""
        return len(self._dataset(f"{table}/{_NAME['step']}"))

    # --- what the run was -------------------------------------------------------------------

    @property
    def config(self):
        """The resolved config as TOML text (defaults filled in)."""
        return self._strings(_PATH["config"])

    def parsed_config(self):
        """The resolved config as a dict, parsed with :mod:`tomllib`.

        :raises RecordError: on Python before 3.11, which has no ``tomllib`` (use :attr:`config`
            with a TOML library of your choice there).
        """
        if sys.version_info < (3, 11):
            raise RecordError(f"{self.path}: parsing the config needs Python 3.11 or newer "
                              f"(tomllib); this is Python {sys.version.split()[0]}")
        import tomllib
        return tomllib.loads(self.config)

    @property
    def provenance(self):
        """Where and how the run was made, as a dict.

        Keys: the string attributes (``workbench_version``, ``torch_version``, ``hdf5_version``,
        ``host``, ``config_path``, ``start_time``, ``end_time``, ``state``), the integers
        ``seed``, ``threads``, ``best_step``, ``resumed_at`` (a list of ISO 8601 times, empty if
        never resumed) and ``plugins`` (a list of dicts with ``kind``, ``name``, ``version``,
        ``library``).
        """
        attributes = self._attributes(self._file[_PATH["provenance"]])
        provenance = {}
        for key, value in attributes.items():
            if key == _STRING_ATTRIBUTES_CHECKSUM:
                continue
            if isinstance(value, np.integer):
                value = int(value)
            elif isinstance(value, np.ndarray):
                value = [str(item) for item in value]
            provenance[key] = value
        provenance.setdefault(_NAME["resumed_at"], [])
        provenance[_NAME["best_step"]] = self.best_step
        plugins = {field: self._strings(f"{_PATH['plugins']}/{field}")
                   for field in SCHEMA["plugin_columns"]["names"]}
        provenance[_NAME["plugins"]] = [dict(zip(plugins, entry))
                                        for entry in zip(*plugins.values())]
        return provenance

    @property
    def state(self):
        """``"running"`` (a live run, or one that was killed), ``"completed"``,
        ``"interrupted"`` or ``"failed"``."""
        return self._attributes(self._file[_PATH["provenance"]])[_NAME["state"]]

    @property
    def best_step(self):
        """The step whose weights the final rows evaluate; -1 until the run completes (and for
        format version 1 records, which have no final rows)."""
        return int(self._attributes(self._file[_PATH["provenance"]]).get(_NAME["best_step"], -1))

    # --- layout -----------------------------------------------------------------------------

    def _layout(self, name):
        return self._strings(f"{_PATH['layout']}/{name}")

    @property
    def pair_names(self):
        """The mapped layer pairs, e.g. ``guide.conv1->target.fc2``: the columns of
        ``training()["pair_distance"]``."""
        return self._layout("pair_names")

    @property
    def measure_names(self):
        """The evaluation measures, e.g. ``top1``: the keys of each row's ``measures``."""
        return self._layout("measure_names")

    @property
    def metrics(self):
        """The metrics with similarity matrices at snapshots, e.g. ``linear-cka``."""
        return self._layout("metrics")

    def taps(self, side):
        """The tap names of ``side`` (``"guide"`` or ``"target"``), in network order; no guide
        taps for an unguided run."""
        self._check_side(side)
        return self._layout(f"{side}_taps")

    def _check_side(self, side):
        if side not in SIDES:
            raise RecordError(f"{self.path}: no side {side!r} (sides: {_names(SIDES)})")

    # --- tables -----------------------------------------------------------------------------

    def training(self):
        """The training time series, one row per step, as a dict of NumPy arrays.

        Keys: ``step``, ``epoch`` (int64), ``learning_rate``, ``total_loss``, ``task_loss``,
        ``guidance_loss``, ``distill_loss`` (float64; absent in records written before
        distillation existed), each ``[N]``, and ``pair_distance`` ``[N, P]`` whose columns are
        :attr:`pair_names`. Rows past the last complete one (a killed run's) are left out.
        """
        table = _PATH["training"]
        rows = self._rows(table)
        step = _NAME["step"]
        columns = {step: self._read(self._dataset(f"{table}/{step}"), slice(rows))}
        for name in self._file[table]:
            if name not in columns:
                columns[name] = self._read(self._dataset(f"{table}/{name}"), slice(rows))
        return columns

    def evaluations(self, split=None, final=None):
        """The evaluation rows in record order, as a list of :class:`Evaluation`.

        :param split: keep only rows of this split (``"train"``, ``"validation"``, ``"test"``),
            final or not; ``None`` keeps all.
        :param final: ``True`` keeps only the final rows (the weights reloaded after training),
            ``False`` only those made during training, ``None`` both.
        """
        table = _PATH["evaluation"]
        rows = self._rows(table)
        steps, epochs, splits, losses, measures = (
            self._read(self._dataset(f"{table}/{_NAME[key]}"), slice(rows), text=key == "split")
            for key in ("step", "epoch", "split", "loss", "measures"))
        names = self.measure_names
        evaluations = []
        for step, epoch, stored_split, loss, values in zip(steps, epochs, splits, losses,
                                                            measures):
            is_final = stored_split.startswith(FINAL_SPLIT_PREFIX)
            name = stored_split[len(FINAL_SPLIT_PREFIX):] if is_final else stored_split
            if split not in (None, name) or final not in (None, is_final):
                continue
            evaluations.append(Evaluation(int(step), int(epoch), name, is_final, float(loss),
                                          dict(zip(names, values.tolist()))))
        return evaluations

    def final_evaluation(self, split="test"):
        """The final row of ``split``: the best-validation weights (see :attr:`best_step`)
        evaluated after training; the figure the terminal summary and reports use.

        :raises RecordError: if the record has no final row of that split (the run has not
            completed, or the split is empty), naming the final splits it has.
        """
        finals = self.evaluations(final=True)
        for row in finals:
            if row.split == split:
                return row
        raise RecordError(f"{self.path}: no final evaluation of split {split!r} (final splits: "
                          f"{_names(row.split for row in finals)}; state {self.state!r})")

    def probe(self):
        """The probe examples whose activations the snapshots hold, as a :class:`Probe`."""
        source_part = source_rows = None
        if _PATH["probe_source_rows"] in self._file:
            rows = self._dataset(_PATH["probe_source_rows"])
            source_part = self._attributes(rows)[_NAME["probe_source_part"]]
            source_rows = self._read(rows)
        return Probe(self._read(self._dataset(_PATH["probe_indices"])),
                     self._read(self._dataset(_PATH["probe_labels"])), source_part, source_rows)

    def predictions(self, network):
        """The final weights' per-example test predictions of ``network`` (``"target"``, or
        ``"guide"`` for guided runs), as a :class:`Predictions`.

        :raises RecordError: if the record has none for ``network`` (runs that have not
            completed, and records older than format version 2), naming the networks it has.
        """
        predictions = _PATH["predictions"]
        group = f"{predictions}/{network}"
        if group not in self._file:
            networks = list(self._file[predictions]) if predictions in self._file else []
            raise RecordError(f"{self.path}: no predictions of {network!r} (networks with "
                              f"predictions: {_names(networks)}; state {self.state!r})")
        return Predictions(*(self._read(self._dataset(f"{group}/{_NAME[key]}"))
                             for key in ("prediction_indices", "predicted", "correct")))

    # --- snapshots --------------------------------------------------------------------------

    @property
    def snapshot_steps(self):
        """The step of each snapshot, in order (int64 array); snapshot indices count these."""
        return self._read(self._dataset(_PATH["snapshot_steps"]))

    @property
    def activation_dtype(self):
        """How activations are stored: ``"float32"`` or ``"float16"``."""
        return self._attributes(self._file[_PATH["snapshots"]])[_NAME["activation_dtype"]]

    def snapshot_index(self, step):
        """The index of the snapshot taken at ``step``.

        :raises RecordError: if there is none, listing the snapshot steps.
        """
        steps = self.snapshot_steps.tolist()
        if step not in steps:
            raise RecordError(f"{self.path}: no snapshot at step {step} (snapshots: "
                              f"{_names(steps)})")
        return steps.index(step)

    def _snapshot_row(self, snapshot, dataset):
        """The row of ``dataset`` [S, ...] that holds snapshot index ``snapshot`` (negative
        counts from the last complete snapshot, as in Python)."""
        count = self._rows(_PATH["snapshots"])
        if not -count <= snapshot < count:
            raise RecordError(f"{self.path}: no snapshot {snapshot} in '{dataset.name}' (the "
                              f"record has {count}; snapshot steps: "
                              f"{_names(self.snapshot_steps)})")
        return self._read(dataset, snapshot % count)

    def activations(self, side, tap, snapshot=-1):
        """The activations of one tap on the probe set at one snapshot, as stored (float32 or
        float16, see :attr:`activation_dtype`).

        The array has the tap's original shape, ``[n, *example_shape]`` (e.g. ``[n, 64, 14, 14]``
        for a convolution, ``[n, L, D]`` for a sequence tap), from the dataset's
        ``example_shape`` attribute. Records before format version 3 do not have it: their
        activations come flattened per example, ``[n, F]``. Similarities are computed on the
        flattened form, ``activations(...).reshape(n, -1)``.

        :param side: ``"guide"`` or ``"target"``.
        :param tap: a tap name of that side (see :meth:`taps`).
        :param snapshot: snapshot index (see :attr:`snapshot_steps`); -1 is the last.
        :raises RecordError: for an unknown side or tap (naming the taps there are) or snapshot.
        """
        taps = self.taps(side)
        if tap not in taps:
            raise RecordError(f"{self.path}: no {side} tap {tap!r} ({side} taps: "
                              f"{_names(taps)})")
        dataset = self._dataset(f"{_PATH['activations']}/{side}/{tap}")
        flat = self._snapshot_row(snapshot, dataset)
        attributes = self._attributes(dataset)
        if _EXAMPLE_SHAPE not in attributes:
            return flat
        shape = tuple(int(size) for size in attributes[_EXAMPLE_SHAPE])
        if int(np.prod(shape)) != flat.shape[1]:
            raise RecordError(f"{self.path}: '{dataset.name}' has {flat.shape[1]} features per "
                              f"example but its {_EXAMPLE_SHAPE} is {list(shape)}")
        return flat.reshape(flat.shape[0], *shape)

    def similarity(self, metric, which, snapshot=-1):
        """One snapshot's similarity matrix of ``metric``, with its labels.

        :param metric: one of :attr:`metrics`, e.g. ``"linear-cka"``.
        :param which: ``"guide_target"``, ``"target_target"`` or ``"guide_guide"`` (rows side,
            columns side; only ``"target_target"`` for unguided runs).
        :param snapshot: snapshot index (see :attr:`snapshot_steps`); -1 is the last.
        :return: a :class:`Similarity` ``(matrix, row_labels, column_labels)``; ``matrix`` is
            float64 ``[rows, columns]`` and the labels are tap names.
        :raises RecordError: for an unknown metric (naming the metrics there are), matrix or
            snapshot.
        """
        metrics = self.metrics
        if metric not in metrics:
            raise RecordError(f"{self.path}: no similarity metric {metric!r} (metrics: "
                              f"{_names(metrics)})")
        group = self._file[f"{_PATH['similarity']}/{metric}"]
        if which not in group:
            present = [name for name in SIMILARITIES if name in group]
            raise RecordError(f"{self.path}: no similarity {which!r} of {metric!r} (this "
                              f"record has: {_names(present)})")
        dataset = self._dataset(f"{_PATH['similarity']}/{metric}/{which}")
        attributes = self._attributes(dataset)
        return Similarity(self._snapshot_row(snapshot, dataset),
                          [str(label) for label in attributes[_NAME["row_labels"]]],
                          [str(label) for label in attributes[_NAME["column_labels"]]])
