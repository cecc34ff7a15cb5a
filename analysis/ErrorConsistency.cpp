#include "analysis/ErrorConsistency.h"

#include <limits>
#include <map>
#include <memory>

#include "host/common/Errors.h"

namespace guidance::analysis {

Kappa error_consistency(const Predictions& a, const Predictions& b, const std::string& what) {
  if (a.width != b.width) {
    throw RunError("error consistency of " + what + ": " + std::to_string(a.width) + " and " +
                   std::to_string(b.width) + " scored positions per example");
  }
  std::vector<int8_t> first, second;
  if (a.indices == b.indices) {
    first = a.correct;
    second = b.correct;
  } else {
    std::map<int64_t, size_t> rows_of_b;
    for (size_t row = 0; row < b.indices.size(); ++row) rows_of_b[b.indices[row]] = row;
    for (size_t row = 0; row < a.indices.size(); ++row) {
      auto found = rows_of_b.find(a.indices[row]);
      if (found == rows_of_b.end()) continue;
      for (size_t k = 0; k < a.width; ++k) {
        first.push_back(a.correct[row * a.width + k]);
        second.push_back(b.correct[found->second * b.width + k]);
      }
    }
    if (first.empty()) {
      throw RunError("error consistency of " + what +
                     ": the two recorded predictions on no common test example");
    }
  }
  return cohens_kappa(first, second);
}

std::vector<PredictionSource> prediction_sources(
    const std::vector<std::pair<std::string, std::string>>& records) {
  std::vector<PredictionSource> sources;
  for (const auto& [name, path] : records) {
    try {
      RecordReader record(path);
      if (record.has_predictions("target")) sources.push_back({name, path, "target"});
      if (record.has_predictions("guide")) sources.push_back({name + "/guide", path, "guide"});
    } catch (const GuidanceError&) {
      // Unreadable records are reported by whoever lists the runs.
    }
  }
  return sources;
}

ConsistencyMatrix consistency_matrix(const std::vector<PredictionSource>& sources) {
  ConsistencyMatrix matrix;
  matrix.sources = sources;
  const size_t n = sources.size();
  matrix.values.assign(n * n, std::numeric_limits<double>::quiet_NaN());
  std::vector<Predictions> loaded;
  for (const auto& source : sources)
    loaded.push_back(RecordReader(source.record).predictions(source.network));
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = i; j < n; ++j) {
      double kappa = std::numeric_limits<double>::quiet_NaN();
      try {
        kappa =
            error_consistency(loaded[i], loaded[j], sources[i].label + " and " + sources[j].label)
                .kappa;
      } catch (const RunError&) {
        // Left NaN: the pair shares no examples.
      }
      matrix.values[i * n + j] = matrix.values[j * n + i] = kappa;
    }
  }
  return matrix;
}

Heatmap consistency_heatmap(const ConsistencyMatrix& matrix) {
  Heatmap heatmap;
  heatmap.title = "Error consistency (Cohen's κ of test correctness)";
  heatmap.row_title = "network";
  heatmap.column_title = "network";
  for (const auto& source : matrix.sources) {
    heatmap.row_labels.push_back(source.label);
    heatmap.column_labels.push_back(source.label);
  }
  heatmap.values = matrix.values;
  heatmap.low = -1.0;
  heatmap.high = 1.0;
  heatmap.scale_label = "κ";
  return heatmap;
}

Table consistency_table(const ConsistencyMatrix& matrix) {
  Table table;
  Table::Column labels{"kappa", {}, {}};
  for (const auto& source : matrix.sources) labels.texts.push_back(source.label);
  table.columns.push_back(labels);
  const size_t n = matrix.sources.size();
  for (size_t j = 0; j < n; ++j) {
    Table::Column column{matrix.sources[j].label, {}, {}};
    for (size_t i = 0; i < n; ++i) column.numbers.push_back(matrix.values[i * n + j]);
    table.columns.push_back(std::move(column));
  }
  return table;
}

}  // namespace guidance::analysis
