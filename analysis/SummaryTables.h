#pragma once

// A study's summary tables: one row per cell, as CSV (summary.csv) and as Markdown (summary.md and
// what `guidance summarize` prints).

#include <string>
#include <vector>

#include "analysis/Study.h"
#include "analysis/Table.h"

namespace guidance::analysis {

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

}  // namespace guidance::analysis
