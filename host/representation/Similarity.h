#pragma once

#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "guidance/api/Metric.h"

namespace guidance {

/// Similarity of every row activation with every column activation, without gradients.
/// Each activation is [n, ...] over the same n examples, flattened to [n, features] and cast to
/// float32 before metric.similarity() sees it; pairs are computed one at a time, so no more than
/// two flattened activations are made at once.
/// @return float64 [rows.size(), columns.size()], entry (i, j) = similarity(rows[i], columns[j]).
torch::Tensor similarity_matrix(const Metric& metric, const std::vector<torch::Tensor>& rows,
                                const std::vector<torch::Tensor>& columns);

/// Loads activation `index` ([n, ...]) of one side of a similarity matrix on demand.
using ActivationLoader = std::function<torch::Tensor(size_t index)>;

/// similarity_matrix() over activations loaded on demand: row i is loaded once and held while
/// every column is loaded in turn, so the loaders decide how much stays in memory.
torch::Tensor similarity_matrix(const Metric& metric, size_t rows, const ActivationLoader& row,
                                size_t columns, const ActivationLoader& column);

/// Taps (activations named by network side and tap) loaded on demand and kept in memory up to a
/// byte budget: when a new one would exceed it, the oldest loaded are dropped first; a tap larger
/// than the whole budget is never kept. Bounds the memory of the similarity matrices of a
/// snapshot, whose every tap is compared with many others.
class TapCache {
 public:
  /// @return the activations of `tap` of `side` ("guide" or "target").
  using Load = std::function<torch::Tensor(const std::string& side, const std::string& tap)>;

  TapCache(Load load, uint64_t budget_bytes) : load_(std::move(load)), budget_(budget_bytes) {}

  /// @return the tap, from memory when it is still kept, loaded otherwise.
  torch::Tensor get(const std::string& side, const std::string& tap);

  /// @return a loader of taps `taps` of `side` by index, for similarity_matrix(). The cache and
  /// `taps` must outlive it.
  ActivationLoader loader(const std::string& side, const std::vector<std::string>& taps);

 private:
  Load load_;
  uint64_t budget_;
  uint64_t held_ = 0;
  std::map<std::string, torch::Tensor> kept_;
  std::vector<std::string> order_;  // keys of kept_, oldest first
};

}  // namespace guidance
