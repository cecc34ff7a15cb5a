#pragma once

// Baselines: the cell each cell of a study is compared with, and the difference of their means
// with a 95 % Welch confidence interval (the Δ of the summaries).

#include <string>
#include <vector>

#include "analysis/Statistics.h"
#include "analysis/Study.h"

namespace guidance::analysis {

/// Sets Study::baseline and each cell's StudyCell::baseline: the cell that has the `request`ed
/// values and otherwise agrees with it (axes where either has no value, and the tuned axis, are
/// ignored; the closest match wins, a tie leaves the cell without one).
/// @param request the baseline's defining settings. Empty: `guidance.enabled=false` (each cell's
///        unguided cell) when the study has unguided and guided cells, else no baseline.
/// @throws UsageError when a requested key is not an axis of the study or is its tuned axis
void assign_baselines(Study& study, const std::vector<Setting>& request);

/// @return the difference of a cell's mean `measure` to its baseline cell's, with its 95 % Welch
/// interval over their finished runs; every field NaN when the cell has no baseline.
WelchInterval difference_to_baseline(const Study& study, const StudyCell& cell,
                                     const std::string& measure);

}  // namespace guidance::analysis
