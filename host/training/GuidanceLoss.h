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

/// How sequence taps are compared (`guidance.tokenwise`, `guidance.mask_padding`). The released
/// code compares every pair on its taps flattened to [B, L·D], padding positions included.
struct SequenceComparison {
  /// Each position compared separately over the batch and the distances summed over positions
  /// (the released `token_sim` option, which its training scripts never pass): the term grows
  /// with the sequence length.
  bool tokenwise = false;
  /// Padding positions zeroed before flattening, or (token-wise) the rows without a real token
  /// at a position left out, positions with fewer than the metric's min_rows real rows skipped.
  bool mask_padding = false;
};

/// @return a tap as an [n, features] matrix for comparison over the batch; sequence taps with a
/// defined `mask` have their padding positions zeroed first.
torch::Tensor tap_matrix(const torch::Tensor& tap, TapLayout layout, const torch::Tensor& mask);

/// Computes Σ_pairs distance(target tap, guide tap), each pair on its taps flattened to
/// [B, features], or position by position where `comparison.tokenwise` and both taps are
/// sequences [B, L, D]. `mask` [B, L] (may be undefined) marks real tokens; it is used only
/// when `comparison.mask_padding`.
GuidanceTerms guidance_terms(const Metric& metric, const std::vector<TapPair>& pairs,
                             const std::vector<TapSpec>& guide_specs,
                             const std::vector<TapSpec>& target_specs,
                             const std::vector<torch::Tensor>& guide_taps,
                             const std::vector<torch::Tensor>& target_taps,
                             const torch::Tensor& mask, SequenceComparison comparison);

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
