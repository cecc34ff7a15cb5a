#pragma once

#include <string>
#include <utility>
#include <vector>

#include "analysis/RecordReader.h"
#include "analysis/Statistics.h"
#include "analysis/Svg.h"
#include "analysis/Table.h"

namespace guidance::analysis {

/// @return Cohen's κ of two networks' per-example test correctness (Geirhos et al. 2020 error
/// consistency), over the examples both recorded (matched by index) and, for per-token
/// correctness, the positions both score (correct ≥ 0).
/// @param what names the two in errors, e.g. "a.h5 target and b.h5 guide"
/// @throws RunError when they share no example or their widths (tokens per example) differ
Kappa error_consistency(const Predictions& a, const Predictions& b, const std::string& what);

/// One network whose predictions a consistency matrix compares.
struct PredictionSource {
  std::string label;    ///< e.g. "fcn-seed0" (a target) or "fcn-seed0/guide"
  std::string record;   ///< the record's path
  std::string network;  ///< "target" or "guide"
};

/// A symmetric κ matrix: entry (i, j) = κ of sources i and j (1 on the diagonal, NaN where it
/// is undefined).
struct ConsistencyMatrix {
  std::vector<PredictionSource> sources;
  std::vector<double> values;  ///< row-major [sources, sources]
};

/// @return the sources of the given records: each record's target, then its guide, when their
/// predictions are recorded. Unreadable records are skipped.
/// @param records (name, path) of each record
std::vector<PredictionSource> prediction_sources(
    const std::vector<std::pair<std::string, std::string>>& records);

/// @return κ of every pair of sources. Pairs that cannot be compared (no shared examples) are NaN.
ConsistencyMatrix consistency_matrix(const std::vector<PredictionSource>& sources);

/// @return the matrix as a heatmap over [−1, 1] (κ's range), labels on both axes.
Heatmap consistency_heatmap(const ConsistencyMatrix& matrix);

/// @return the matrix as a table: a first column of labels, then one column per source.
Table consistency_table(const ConsistencyMatrix& matrix);

/// κ of groups of sources (e.g. each cell's targets, each cell's guides): entry (a, b) sums up
/// the κ of every pair of two different sources, one of group a and one of group b (on the
/// diagonal, two of group a: how alike the seeds of a cell err).
struct GroupConsistency {
  std::vector<std::string> labels;  ///< one per group
  std::vector<double> mean;         ///< row-major [groups, groups]; NaN where no pair has a κ
  std::vector<double> spread;       ///< sample std of those κ (NaN for fewer than two)
  std::vector<size_t> pairs;        ///< how many κ each entry sums up
};

/// @return the matrix's κ averaged over groups; pairs whose κ is NaN are left out.
/// @param labels the groups' labels
/// @param group_of the group of each source of `matrix` (an index into `labels`)
GroupConsistency group_consistency(const ConsistencyMatrix& matrix,
                                   const std::vector<std::string>& labels,
                                   const std::vector<size_t>& group_of);

/// @return the group matrix as a heatmap over [−1, 1] of the mean κ, each cell printing the mean,
/// ± the std and the number of pairs.
Heatmap group_consistency_heatmap(const GroupConsistency& groups);

/// @return the group matrix as a table of one row per pair of groups: "group", "with", "mean",
/// "std", "pairs".
Table group_consistency_table(const GroupConsistency& groups);

}  // namespace guidance::analysis
