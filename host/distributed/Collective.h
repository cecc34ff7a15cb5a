#pragma once

#include <string>
#include <vector>

#include <torch/types.h>

namespace guidance {

/// The collective operations data-parallel training needs, over the processes of one job (a
/// c10d process group in runs; tests may fake it). Every rank must make the same calls in the
/// same order. A failed operation (a rank gone, a timeout) throws RunError naming what failed.
class Collective {
 public:
  virtual ~Collective() = default;

  virtual int rank() const = 0;
  virtual int world_size() const = 0;

  /// Replaces each tensor with its element-wise sum over the ranks (one operation, in place).
  /// @param what names the operation in errors, e.g. "all-reduce of the gradients"
  virtual void all_reduce_sum(std::vector<torch::Tensor>& tensors, const std::string& what) = 0;

  /// @return the rank-ordered concatenation along dim 0 of every rank's `local` (same shape and
  /// dtype on every rank): [world_size · n, ...].
  virtual torch::Tensor all_gather(const torch::Tensor& local, const std::string& what) = 0;

  /// Replaces each tensor with rank 0's (same shapes and dtypes on every rank), in place.
  virtual void broadcast(std::vector<torch::Tensor>& tensors, const std::string& what) = 0;
};

}  // namespace guidance
