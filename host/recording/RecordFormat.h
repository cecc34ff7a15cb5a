#pragma once

#include <torch/types.h>

#include <optional>
#include <string>
#include <vector>

#include "host/recording/Hdf5.h"
#include "host/recording/RecordSchema.h"

namespace guidance {

/// The reading side of the record format (docs/record-format.md) that the writer (RunRecord) and
/// the readers (analysis::RecordReader, `run --resume`, the study runner) share: opening, the
/// format check, the layout, the state and the stored activations.
namespace record_format {

/// Opens a record read-only as a SWMR reader (so live and killed records open too), with few
/// metadata read retries so a damaged file fails within seconds instead of retrying for minutes.
/// Throws RunError naming the path when it is missing, not HDF5, not a run record, or written by
/// a newer format version than this build reads (both versions named).
hdf5::Handle open_for_reading(const std::string& path);

/// Throws RunError naming `path` unless the open file is a run record of a format version this
/// build reads.
void check_format(hid_t file, const std::string& path);

/// @return the layout stored in an open record.
RecordLayout read_layout(hid_t file, const std::string& path);

/// @return the provenance `state` of an open record; throws RunError naming `path` when it is
/// missing or not a RecordState name.
RecordState read_state(hid_t file, const std::string& path);

/// @return the state of the record at `path`, or nothing when there is no readable record there.
std::optional<RecordState> state_of(const std::string& path);

/// @return the run records (files named run.h5) below `directory`, recursively, in path order:
/// the records of a study, as `summarize`, `analyze` and `verify` find them. Symbolically linked
/// folders are followed (runs gathered from several studies by links); a folder reached twice, as
/// through a link to an ancestor, is walked once.
std::vector<std::string> find_records(const std::string& directory);

/// @return the fixed-length ASCII type of a table's text column (`evaluation/split`).
hdf5::Handle split_type();

/// @return the stored activations of tap `tap` of `side` ("guide" or "target") at snapshot index
/// `snapshot` of an open record, as float32 [n, features] (float16 records are widened). Reads
/// that tap only. Throws RunError naming `path` and the dataset.
torch::Tensor read_activation(hid_t file, const std::string& path, const std::string& side,
                              const std::string& tap, size_t snapshot);

/// @return the per-example shape of a stored tap (its `example_shape` attribute); records of
/// format version 2 and older lack it, and give the flattened shape [features].
std::vector<int64_t> read_example_shape(hid_t file, const std::string& path,
                                        const std::string& side, const std::string& tap);

}  // namespace record_format
}  // namespace guidance
