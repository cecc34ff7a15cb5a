#include "analysis/ErrorConsistency.h"

#include <cmath>
#include <cstdio>
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
      for (const char* network : {record_schema::kTarget, record_schema::kGuide}) {
        if (!record.has_predictions(network)) continue;
        bool target = network == std::string(record_schema::kTarget);
        sources.push_back({target ? name : name + "/" + network, path, network});
      }
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

namespace {

// A κ heatmap: the same labels on both axes, colours over κ's range [−1, 1].
Heatmap kappa_heatmap(const std::string& title, const std::string& axis_title,
                      const std::vector<std::string>& labels, const std::vector<double>& values) {
  Heatmap heatmap;
  heatmap.title = title;
  heatmap.row_title = axis_title;
  heatmap.column_title = axis_title;
  heatmap.row_labels = labels;
  heatmap.column_labels = labels;
  heatmap.values = values;
  heatmap.low = -1.0;
  heatmap.high = 1.0;
  heatmap.scale_label = "κ";
  return heatmap;
}

std::string two_decimals(double value) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.2f", value);
  return text;
}

}  // namespace

Heatmap consistency_heatmap(const ConsistencyMatrix& matrix) {
  std::vector<std::string> labels;
  for (const auto& source : matrix.sources) labels.push_back(source.label);
  return kappa_heatmap("Error consistency (Cohen's κ of test correctness)", "network", labels,
                       matrix.values);
}

GroupConsistency group_consistency(const ConsistencyMatrix& matrix,
                                   const std::vector<std::string>& labels,
                                   const std::vector<size_t>& group_of) {
  const size_t n = matrix.sources.size(), groups = labels.size();
  std::vector<std::vector<double>> kappas(groups * groups);
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = i + 1; j < n; ++j) {
      double kappa = matrix.values[i * n + j];
      if (std::isnan(kappa)) continue;
      size_t a = group_of.at(i), b = group_of.at(j);
      kappas.at(a * groups + b).push_back(kappa);
      if (a != b) kappas.at(b * groups + a).push_back(kappa);
    }
  }
  GroupConsistency result;
  result.labels = labels;
  for (const auto& entry : kappas) {
    result.mean.push_back(analysis::mean(entry));
    result.spread.push_back(sample_std(entry));
    result.pairs.push_back(entry.size());
  }
  return result;
}

Heatmap group_consistency_heatmap(const GroupConsistency& groups) {
  Heatmap heatmap = kappa_heatmap("Error consistency of cells (mean κ over pairs of runs)", "cell",
                                  groups.labels, groups.mean);
  for (size_t e = 0; e < groups.mean.size(); ++e) {
    std::string text = std::isnan(groups.mean[e]) ? "–" : two_decimals(groups.mean[e]);
    if (!std::isnan(groups.spread[e])) text += "\n± " + two_decimals(groups.spread[e]);
    heatmap.texts.push_back(text + "\n" + std::to_string(groups.pairs[e]) +
                            (groups.pairs[e] == 1 ? " pair" : " pairs"));
  }
  heatmap.note = "each cell: mean κ ± sample std over the pairs of two different networks, one "
                 "of each group (diagonal: two of the same group)";
  return heatmap;
}

Table group_consistency_table(const GroupConsistency& groups) {
  Table table;
  table.columns = {{"group", {}, {}}, {"with", {}, {}}, {"mean", {}, {}}, {"std", {}, {}},
                   {"pairs", {}, {}}};
  const size_t count = groups.labels.size();
  for (size_t a = 0; a < count; ++a) {
    for (size_t b = 0; b < count; ++b) {
      table.columns[0].texts.push_back(groups.labels[a]);
      table.columns[1].texts.push_back(groups.labels[b]);
      table.columns[2].numbers.push_back(groups.mean[a * count + b]);
      table.columns[3].numbers.push_back(groups.spread[a * count + b]);
      table.columns[4].numbers.push_back(static_cast<double>(groups.pairs[a * count + b]));
    }
  }
  return table;
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
