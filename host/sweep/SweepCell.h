#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "host/sweep/Sweep.h"

namespace guidance {

/// A run's place in its sweep, as `guidance run` writes it to `<run dir>/sweep-cell.toml` before
/// training the run, so summaries group runs without the config file.
struct SweepCell {
  std::string study;                   ///< run.name before expansion
  std::string run;                     ///< the run's name
  std::string config;                  ///< absolute path of the config file
  size_t index = 0;                    ///< position in expansion order
  size_t runs = 1;                     ///< runs in the sweep
  std::vector<SweepSetting> settings;  ///< as SweepRun::settings
  std::optional<std::string> replicate;  ///< "run.seed" when seeds are swept
  uint64_t seed = 0;                   ///< the run's run.seed

  /// @return settings without the replicate axis: the runs of one cell share it.
  std::vector<SweepSetting> cell() const;
};

/// The file name of a run directory's SweepCell.
constexpr const char* kSweepCellFile = "sweep-cell.toml";

/// @return the cell of `run`, one of `runs` runs expanded from the config at `config_path`.
SweepCell sweep_cell(const SweepRun& run, size_t runs, const std::string& config_path);

/// Writes `cell` to `<directory>/sweep-cell.toml` (write_file_atomically: a reader never sees half
/// a file), creating the directory. Throws RunError on failure.
void write_sweep_cell(const SweepCell& cell, const std::string& directory);

/// @return the cell read from `<directory>/sweep-cell.toml`, or nothing when there is no such
/// file. Throws RunError naming the file when it is malformed.
std::optional<SweepCell> read_sweep_cell(const std::string& directory);

}  // namespace guidance
