#include "analysis/Baselines.h"

#include <algorithm>
#include <optional>

#include "analysis/Cells.h"
#include "analysis/Statistics.h"
#include "host/common/Errors.h"
#include "host/config/ConfigKeys.h"

namespace guidance::analysis {

void assign_baselines(Study& study, const std::vector<Setting>& request) {
  std::vector<Setting> baseline = request;
  if (baseline.empty()) {
    bool has_unguided = false, has_guided = false;
    for (const auto& cell : study.cells) {
      for (const auto& [key, value] : cell.settings) {
        if (key != kGuidanceEnabledKey) continue;
        (value == "false" ? has_unguided : has_guided) = true;
      }
    }
    if (has_unguided && has_guided) baseline = {{kGuidanceEnabledKey, "false"}};
  }
  for (const auto& [key, value] : baseline) axis_position(study, key, "--baseline");
  const std::string& tuned = study.tuned_axis;
  if (!tuned.empty() && std::any_of(baseline.begin(), baseline.end(),
                                    [&](const Setting& s) { return s.first == tuned; })) {
    throw UsageError("--baseline and --tune both name '" + tuned +
                     "': a tuned axis takes each cell's best value, baselines included");
  }
  study.baseline = baseline;
  if (baseline.empty()) return;
  for (auto& cell : study.cells) {
    std::optional<size_t> best;
    int best_score = -1;
    bool tie = false;
    for (size_t c = 0; c < study.cells.size(); ++c) {
      const StudyCell& candidate = study.cells[c];
      bool matches = true;
      int score = 0;
      for (size_t a = 0; a < study.axes.size() && matches; ++a) {
        const std::string& key = study.axes[a];
        if (key == study.tuned_axis) continue;
        const std::string& mine = cell.settings[a].second;
        const std::string& theirs = candidate.settings[a].second;
        auto wanted = std::find_if(baseline.begin(), baseline.end(),
                                   [&](const Setting& s) { return s.first == key; });
        if (wanted != baseline.end()) {
          matches = theirs == wanted->second;
        } else if (mine != kNoValue && theirs != kNoValue) {
          matches = mine == theirs;
          score += matches;
        }
      }
      if (!matches) continue;
      if (score > best_score) {
        best = c;
        best_score = score;
        tie = false;
      } else if (score == best_score) {
        tie = true;
      }
    }
    if (best && !tie) cell.baseline = best;
  }
}

WelchInterval difference_to_baseline(const Study& study, const StudyCell& cell,
                                     const std::string& measure) {
  if (!cell.baseline) {
    return {kNaN, kNaN, kNaN, kNaN, kNaN};
  }
  return welch_interval(study.values(cell, measure),
                        study.values(study.cells[*cell.baseline], measure));
}

}  // namespace guidance::analysis
