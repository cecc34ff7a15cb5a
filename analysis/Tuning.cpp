#include "analysis/Tuning.h"

#include <cmath>
#include <cstddef>
#include <optional>
#include <utility>
#include <vector>

#include "analysis/Cells.h"
#include "analysis/Statistics.h"

namespace guidance::analysis {

void tune_cells(Study& study, const std::string& axis) {
  const size_t position = axis_position(study, axis, "--tune");
  study.tuned_axis = axis;
  auto others = [&](const StudyCell& cell) {
    std::vector<Setting> settings = cell.settings;
    settings.erase(settings.begin() + static_cast<std::ptrdiff_t>(position));
    return settings;
  };
  std::vector<StudyCell> kept;
  std::vector<bool> grouped(study.cells.size(), false);
  for (size_t first = 0; first < study.cells.size(); ++first) {
    if (grouped[first]) continue;
    TuningChoice choice;
    choice.settings = others(study.cells[first]);
    std::vector<size_t> members;
    for (size_t c = first; c < study.cells.size(); ++c) {
      if (!grouped[c] && others(study.cells[c]) == choice.settings) {
        grouped[c] = true;
        members.push_back(c);
      }
    }
    std::optional<size_t> best;
    double best_loss = 0;
    for (size_t c : members) {
      double loss = mean(study.values(study.cells[c], kTuningMeasure));
      choice.tried.emplace_back(study.cells[c].settings[position].second, loss);
      if (!std::isnan(loss) && (!best || loss < best_loss)) {
        best = c;
        best_loss = loss;
      }
    }
    if (best) {
      choice.chosen = study.cells[*best].settings[position].second;
      kept.push_back(study.cells[*best]);
    } else {
      for (size_t c : members) kept.push_back(study.cells[c]);
    }
    study.tuning.push_back(std::move(choice));
  }
  study.cells = std::move(kept);
}

}  // namespace guidance::analysis
