#pragma once

// A study: the run records below a directory, read and grouped into cells (Cells.h), tuned
// (Tuning.h) and compared with baselines (Baselines.h). What `guidance summarize` and the study
// report of `guidance analyze` build their tables on (SummaryTables.h, Pivot.h).

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "analysis/Table.h"
#include "host/recording/RecordSchema.h"

namespace guidance::analysis {

/// One `key = value` setting of a run, e.g. ("target.plugin", "cnn").
using Setting = std::pair<std::string, std::string>;

/// The value of a setting a run does not have (e.g. `guide.plugin` of an unguided run).
constexpr const char* kNoValue = "-";

/// The state of a study run whose record cannot be read: it is in no cell.
constexpr const char* kUnreadable = "unreadable";

/// One run record of a study.
struct StudyRun {
  std::string name;     ///< its folder relative to the study directory
  std::string path;     ///< its run.h5
  std::string state;    ///< provenance state, or kUnreadable
  std::string problem;  ///< why it is unreadable or has no final measures ("" when fine)
  uint64_t seed = 0;
  std::map<std::string, std::string> settings;  ///< flattened resolved config (see settings_of)
  std::map<std::string, double> measures;       ///< final measures, e.g. "test top1"

  /// @return whether it counts in averages: completed, with final measures.
  bool finished() const {
    return state == to_string(RecordState::Completed) && problem.empty();
  }
};

/// Runs of a study that share every setting but the seed.
struct StudyCell {
  std::vector<Setting> settings;   ///< one per study axis, in axis order
  std::vector<size_t> runs;        ///< indices into Study::runs
  std::optional<size_t> baseline;  ///< the cell it is compared with (may be itself)

  /// @return "k1=v1, k2=v2".
  std::string label() const;
};

/// The choice load_study() makes for one group of cells that differ only in the tuned axis.
struct TuningChoice {
  std::vector<Setting> settings;  ///< the group's other axes
  /// every value of the tuned axis tried, with its cell's mean validation loss (NaN: no finished run)
  std::vector<std::pair<std::string, double>> tried;
  std::string chosen;  ///< the value kept ("" when no cell of the group has a finished run)
};

/// The measure a tuned axis is chosen by: the paper keeps the setting of lowest validation loss.
constexpr const char* kTuningMeasure = "validation loss";

/// A study: the run records below a directory grouped into cells by their differing settings,
/// with `run.seed` as the replicate axis.
struct Study {
  std::string directory;
  std::vector<StudyRun> runs;
  std::vector<std::string> axes;  ///< settings that differ between runs
  std::vector<StudyCell> cells;
  std::vector<std::string> measures;  ///< final measures, test first, then validation, train
  std::vector<Setting> baseline;      ///< the baseline's defining settings (empty: none)
  std::string tuned_axis;             ///< the axis tuned per cell ("" when none)
  std::vector<TuningChoice> tuning;   ///< one per group of cells that differ only in it

  /// @return the finished runs' values of `measure` in a cell.
  std::vector<double> values(const StudyCell& cell, const std::string& measure) const;
  /// @return the cell of a run, if the run is in one.
  std::optional<size_t> cell_of(size_t run) const;
};

/// @return the final measures of a record's evaluation table: "<split> <measure>" and
/// "<split> loss" of each split's final row (final_evaluation_rows: the reloaded best weights'
/// "best/<split>", the rule the reports and the Python reader apply), and "last validation ..."
/// from the last "validation" row: the weights at the end, which show over-fitting that the best
/// weights hide.
std::map<std::string, double> final_measures_of(const Table& evaluation);

/// Reads every run.h5 below `directory` (an unreadable one becomes a run with state
/// "unreadable") and groups them into cells.
/// @param baseline settings that define the baseline cell of each cell: the cell that has these
///        values and otherwise agrees with it (keys where either has no value are ignored; the
///        closest match wins). Empty: `guidance.enabled=false` (each cell's unguided cell) when
///        the study has unguided and guided runs, else none.
/// @param tune_axis an axis tuned per cell, as the paper tunes the learning rate: of the cells
///        that differ only in it, the one of lowest mean validation loss is kept and the others
///        leave the table (listed in Study::tuning); baselines are matched ignoring it, so every
///        cell, baseline included, has its own best value. Empty: none.
/// @throws UsageError when a baseline key or the tuned axis is not an axis of the study (or
///         the tuned axis is also a baseline key), RunError when there is no record below the
///         directory
Study load_study(const std::string& directory, const std::vector<Setting>& baseline = {},
                 const std::string& tune_axis = "");

}  // namespace guidance::analysis
