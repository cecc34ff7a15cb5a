#pragma once

#include <vector>

#include <torch/types.h>

#include "guidance/api/Metric.h"
#include "guidance/api/Network.h"
#include "host/training/LayerMap.h"

namespace guidance {

/// The guidance term of one step.
struct GuidanceTerms {
  torch::Tensor total;               ///< Σ over pairs of the distance (before α)
  std::vector<double> per_pair;      ///< each pair's distance, for records
};

/// @return a tap as an [n, features] matrix for comparison over the batch. Sequence taps with a
/// mask have their padding positions zeroed first, so padding never counts as representation.
torch::Tensor tap_matrix(const torch::Tensor& tap, TapLayout layout, const torch::Tensor& mask);

/// Computes Σ_pairs distance(target tap, guide tap). When `tokenwise` and both taps are
/// sequences [B, L, D], each position is compared separately over the examples that have a real
/// token there (padding masked out; positions with fewer than 2 such examples are skipped) and
/// the distances are summed over positions, as in the paper's token-wise option.
GuidanceTerms guidance_terms(const Metric& metric, const std::vector<TapPair>& pairs,
                             const std::vector<TapSpec>& guide_specs,
                             const std::vector<TapSpec>& target_specs,
                             const std::vector<torch::Tensor>& guide_taps,
                             const std::vector<torch::Tensor>& target_taps,
                             const torch::Tensor& mask, bool tokenwise);

}  // namespace guidance
