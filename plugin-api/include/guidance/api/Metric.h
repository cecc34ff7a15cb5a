#pragma once

#include "guidance/api/Visibility.h"

#include <string>

#include <torch/types.h>

namespace guidance {

/// Whether a metric's raw value grows with dissimilarity (Distance) or with similarity.
enum class MetricSense { Distance, Similarity };

/// What a metric promises, declared by its plugin so the host can validate a config (guidance
/// needs a differentiable metric) and print help.
struct MetricTraits {
  bool differentiable = false;  ///< gradients flow to the first argument
  MetricSense sense = MetricSense::Similarity;
  double lower = 0.0;           ///< smallest value compute() returns
  double upper = 1.0;           ///< largest value compute() returns
  std::string formula;          ///< one line, e.g. "1 - HSIC(K,L) / sqrt(HSIC(K,K) HSIC(L,L))"
  std::string cost;             ///< in n (examples) and d (features), e.g. "O(n^2 (d1 + d2))"
  /// The fewest examples (rows) compute() is defined for; the host skips a token position or a
  /// batch with fewer rather than fail the run.
  int64_t min_rows = 2;
};

/// A representational comparison between two activation matrices over the same n examples.
class GUIDANCE_API Metric {
 public:
  virtual ~Metric() = default;

  /// @param x float [n, d1] (the target's activations; gradients flow here if differentiable)
  /// @param y float [n, d2] (the guide's activations)
  /// @return a scalar tensor in [traits().lower, traits().upper], in the metric's own sense.
  virtual torch::Tensor compute(const torch::Tensor& x, const torch::Tensor& y) const = 0;

  virtual const MetricTraits& traits() const = 0;

  /// @return compute() turned into a distance: itself for a distance, upper − value for a
  /// similarity. Guidance always minimises this.
  torch::Tensor distance(const torch::Tensor& x, const torch::Tensor& y) const {
    torch::Tensor value = compute(x, y);
    return traits().sense == MetricSense::Distance ? value : traits().upper - value;
  }

  /// @return compute() turned into a similarity for analysis heatmaps: itself for a similarity,
  /// upper − value for a bounded distance.
  torch::Tensor similarity(const torch::Tensor& x, const torch::Tensor& y) const {
    torch::Tensor value = compute(x, y);
    return traits().sense == MetricSense::Similarity ? value : traits().upper - value;
  }
};

}  // namespace guidance
