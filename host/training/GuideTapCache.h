#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <torch/types.h>

#include "guidance/api/Network.h"

namespace guidance {

/// The frozen guide's outputs (logits and taps) for every example of the train split, so that
/// from the second epoch on a batch's guide forward pass is a lookup.
///
/// Valid because the guide never changes during guided training and its input is the batch
/// itself (guide_input = "batch"; datasets return the same tensors for an index every time). An
/// example's outputs are those the guide computed for it in an earlier batch; in eval mode each
/// example is computed on its own, so they equal a fresh forward's to float rounding (BLAS
/// matmuls round a row differently at another position in the batch, in the last bits), and a
/// cached run reproduces itself exactly. Holds the whole split or nothing: a batch with one
/// example missing would need a forward pass anyway.
/// How much memory the cache may take, and where that figure comes from (for the log).
struct CacheBudget {
  uint64_t bytes = 0;
  std::string source;  ///< e.g. "guidance.guide_cache_mb = 512"
};

/// @return the budget when guidance.guide_cache_mb is 0: half the memory the system reports
/// available now, shared equally by `concurrent_runs` runs started together.
CacheBudget default_cache_budget(int64_t concurrent_runs);

class GuideTapCache {
 public:
  /// @param examples the train split's size
  /// @param budget the most memory the stored outputs may take
  /// @param kept_taps for each guide tap, whether training reads it (paired taps); the others are
  ///        not stored and come back undefined
  /// @param keep_logits whether training reads the logits (distillation)
  /// @param store_bf16 whether floating-point outputs are stored in bfloat16 (and come back so)
  GuideTapCache(int64_t examples, CacheBudget budget, std::vector<bool> kept_taps,
                bool keep_logits, bool store_bf16);

  /// @return the guide's outputs for `indices` (int64 [B], train split, on the CPU) on `device`,
  /// if all are stored.
  std::optional<NetworkOutput> lookup(const torch::Tensor& indices, torch::Device device);

  /// Stores a batch's outputs (CPU copies). The first batch fixes the per-example shapes and
  /// decides whether the whole split fits the budget; outputs of another shape (a dataset that
  /// pads each batch to its own length) turn the cache off.
  void store(const torch::Tensor& indices, const NetworkOutput& output);

  /// @return false once the cache has turned itself off (too large, or shapes vary).
  bool active() const { return active_; }
  int64_t hits() const { return hits_; }
  /// @return one line saying what the cache holds or why it is off.
  const std::string& status() const { return status_; }

 private:
  void turn_off(const std::string& why);

  /// @return the outputs kept, in storage order: the logits (if kept), then the kept taps.
  std::vector<torch::Tensor> kept_parts(const NetworkOutput& output) const;

  /// @return `part` as it is stored: in bfloat16 when asked and floating-point.
  torch::Tensor stored_form(const torch::Tensor& part) const;

  int64_t examples_;
  CacheBudget budget_;
  bool store_bf16_;
  std::vector<bool> kept_taps_;
  bool keep_logits_;
  bool active_ = true;
  std::vector<torch::Tensor> storage_;  ///< kept_parts(), each [examples, ...]
  torch::Tensor stored_;                ///< bool [examples]
  int64_t stored_count_ = 0;
  int64_t hits_ = 0;
  std::string status_;
};

}  // namespace guidance
