#pragma once

// Two axes of a study pivoted into one measure's table: the prior atlas of `guidance summarize
// --rows --cols` (atlas.md, atlas.csv, atlas.svg).

#include <string>
#include <vector>

#include "analysis/Study.h"
#include "analysis/Svg.h"
#include "analysis/Table.h"

namespace guidance::analysis {

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

}  // namespace guidance::analysis
