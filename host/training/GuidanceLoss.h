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
/// token there (padding masked out; positions with fewer such examples than the metric's min_rows are skipped) and
/// the distances are summed over positions, as in the paper's token-wise option.
GuidanceTerms guidance_terms(const Metric& metric, const std::vector<TapPair>& pairs,
                             const std::vector<TapSpec>& guide_specs,
                             const std::vector<TapSpec>& target_specs,
                             const std::vector<torch::Tensor>& guide_taps,
                             const std::vector<torch::Tensor>& target_taps,
                             const torch::Tensor& mask, bool tokenwise);

/// Knowledge distillation (Hinton et al. 2015): T² · KL(softmax(guide / T) ‖ softmax(target / T)),
/// the KL summed over classes and averaged over examples, or for per-position logits [B, L, C]
/// over the positions where `mask` ([B, L], may be undefined = all) is set. The T² keeps the
/// gradient's scale independent of T. Differentiable in `target_logits` only.
/// @param target_logits [B, C] or [B, L, C]
/// @param guide_logits the same shape (no gradient flows into it)
/// @param temperature T > 0
torch::Tensor distillation_loss(const torch::Tensor& target_logits,
                                const torch::Tensor& guide_logits, double temperature,
                                const torch::Tensor& mask);

}  // namespace guidance
