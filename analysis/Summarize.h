#pragma once

#include <cstdint>
#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "analysis/Svg.h"
#include "analysis/Table.h"
#include "host/recording/RecordSchema.h"

namespace CLI {
class App;
}  // namespace CLI

namespace guidance::analysis {

/// One `key = value` setting of a run, e.g. ("target.plugin", "cnn").
using Setting = std::pair<std::string, std::string>;

/// The value of a setting a run does not have (e.g. `guide.plugin` of an unguided run).
constexpr const char* kNoValue = "-";

/// One run record of a study.
struct StudyRun {
  std::string name;     ///< its folder relative to the study directory
  std::string path;     ///< its run.h5
  std::string state;    ///< provenance state, or "unreadable"
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

/// @return how reports show a cell's value of an axis: the value itself, but a TorchScript network
/// (`X.plugin = "torchscript"`) by the file name of its `X.path` (e.g. "cnn.pt").
/// @param axis an index into Study::axes
std::string shown_value(const Study& study, const StudyCell& cell, size_t axis);

/// @return a label per cell (in Study::cells order) for legends and matrices, naming only what
/// tells the cells apart: `name=value` for each axis, the name being the key's last part
/// without ".plugin" (`guide.plugin` → guide, `train.learning_rate` → learning_rate; the whole
/// key when two axes would share a name), the value as shown_value() gives it. Axes a cell has no
/// value on (`-`) are left out, `guidance.enabled` shows as "unguided" (or "guided" when no guide
/// setting says so), and a plugin's parameter that only follows from its plugin (`X.k` where
/// `X.plugin` is an axis and every cell of one plugin, as shown_value() shows it, has one value
/// of it: a TorchScript network's `X.path`) is left out.
/// E.g. "target=mlp, guide=convnet", "target=mlp, unguided".
std::vector<std::string> cell_labels(const Study& study);

/// @return a resolved config (TOML text) as dotted keys → values (strings unquoted, other values
/// and arrays as TOML writes them), without run.name, run.seed and the keys declared
/// leaves_results() (where a run runs from, what it logs and records: ConfigKeys.h), so runs that
/// differ only in those are one cell. For an unguided
/// run (no [guide], or guidance.enabled = false) every guide.* and guidance.* key is dropped but
/// guidance.enabled = false, so unguided runs form one cell whatever their guide tables say.
/// @throws RunError when the text is not TOML
std::map<std::string, std::string> settings_of(const std::string& config_toml);

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

/// @return one row per cell: its settings, n_finished, n_found, its runs, flagged runs, then for every
/// measure its mean, std (n − 1), and the difference to the baseline with its 95 % Welch
/// interval (delta, ci_low, ci_high), and the baseline cell.
Table study_table(const Study& study);

/// What study_markdown() shows of a study.
struct MarkdownLayout {
  std::vector<std::string> measures;  ///< the measures shown, in order (empty: every measure)
  /// The widest a table line may be (0: no limit). The cell, its runs, the first measure and the
  /// flags are always shown, the axes as one `cell` column when their own columns leave no room
  /// for those; the further measures while the table fits, a line under it naming the rest.
  size_t width = 0;
};

/// @return the study table as Markdown: `mean ± std` per measure, `Δ [low, high]` for test
/// measures, failed or unfinished runs listed per cell.
std::string study_markdown(const Study& study, const MarkdownLayout& layout = {});

/// The label of a pivot's row or column whose cells are all baselines of unguided runs (the `-`
/// guide of a guide × target atlas).
constexpr const char* kUnguidedBaseline = "unguided baseline";

/// Two axes of a study pivoted into a table.
struct Pivot {
  std::string rows;     ///< row axis
  std::string columns;  ///< column axis
  std::string measure;
  bool delta = false;  ///< values are differences to each cell's baseline
  /// The rows' values as shown_value() gives them, kUnguidedBaseline (or "baseline" when its runs
  /// are guided) for `-` when each of its cells is its own baseline.
  std::vector<std::string> row_labels;
  std::vector<std::string> column_labels;
  std::vector<double> values;      ///< row-major; NaN = no cell or no value (a baseline's Δ is 0)
  /// Row-major text: "Δ [low, high] (n=N)", "(baseline) mean ± std (n=N)" or
  /// "mean ± std (n=N)", N the cell's finished runs; "" where no cell is.
  std::vector<std::string> cells;
  /// Row-major, what each cell of the heatmap prints: the value, its interval and n, a line
  /// each ("" where no cell is).
  std::vector<std::string> cell_lines;
  /// Rows and columns left out because none of their cells has a value or is a baseline, as
  /// "axis=value" (e.g. a target without unguided runs, so without a Δ).
  std::vector<std::string> left_out;
};

/// @return `measure` (Δ to the baseline when the study has one, else the mean) over two axes;
/// rows and columns without a value or a baseline are left out (Pivot::left_out).
/// @throws UsageError naming the axes when a name is not an axis or when another axis varies
///         within one (row, column) position
Pivot pivot_study(const Study& study, const std::string& rows, const std::string& columns,
                  const std::string& measure);

/// @return the pivot as a heatmap (a prior atlas when rows are guides and columns targets), each
/// cell printing its Pivot::cell_lines.
Heatmap pivot_heatmap(const Pivot& pivot);

/// @return the pivot as a table: a column of row values, then one column per column value.
Table pivot_table(const Pivot& pivot);

/// @return the pivot as Markdown.
std::string pivot_markdown(const Pivot& pivot);

/// Declares `guidance summarize DIR` and its options on `parent`; run_command_line() runs it.
void add_summarize_command(CLI::App& parent, std::ostream& out);

}  // namespace guidance::analysis
