#pragma once

#include <string>
#include <vector>

#include "host/recording/Hdf5.h"

namespace guidance {

/// What a record holds, fixed when it is created (HDF5 SWMR writers cannot add objects later,
/// so everything with a known shape is created up front).
struct RecordLayout {
  std::vector<std::string> pair_names;     ///< mapped layer pairs, e.g. "guide.conv1->target.fc2"
  std::vector<std::string> measure_names;  ///< evaluation measures, e.g. "top1"
  std::vector<std::string> guide_taps;     ///< empty for unguided runs
  std::vector<std::string> target_taps;
  std::vector<std::string> metrics;        ///< similarity metrics recorded at snapshots
  std::string activation_dtype = "float32";  ///< "float32" or "float16"
};

/// The parts of the record format (docs/record-format.md) that the writer (RunRecord) and the
/// readers (analysis::RecordReader, `run --resume`) share: opening, the format check, the layout.
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

/// @return the provenance `state` of the record at `path` ("running", "completed",
/// "interrupted", "failed"), or "" when there is no readable record there.
std::string state_of(const std::string& path);

}  // namespace record_format
}  // namespace guidance
