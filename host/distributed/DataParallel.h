#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/types.h>

#include "host/distributed/Collective.h"

namespace guidance {

/// Gradient buckets of at most this many bytes are all-reduced as one operation each.
inline constexpr int64_t kGradientBucketBytes = 4 << 20;

/// @return this rank's share of a global batch's example indices: the rank-th of world_size
/// equal contiguous slices, so that gathering the shares in rank order restores the batch.
/// The caller checks that the batch divides evenly.
torch::Tensor local_share(const Collective& collective, const torch::Tensor& indices);

/// Averages the gradients of `parameters` over the ranks: flattens them into buckets of at most
/// `bucket_bytes`, all-reduces the buckets (all in flight at once), divides by the world size and
/// copies back. Parameters without a gradient are skipped (every rank runs the same graph, so
/// they are the same parameters on every rank).
void average_gradients(Collective& collective, const std::vector<torch::Tensor>& parameters,
                       int64_t bucket_bytes = kGradientBucketBytes);

/// All-gathers `local` [n, ...] into [world_size · n, ...] in rank order, differentiably: the
/// gradient that reaches `local` is its own slice of the gathered tensor's gradient, times the
/// world size. Every rank computes the same loss from the gathered tensor, so that slice is the
/// whole gradient of the loss with respect to `local`; the factor undoes average_gradients'
/// division. Trailing dimensions may differ between ranks (sequences padded to each share's
/// longest): each is zero-padded to the largest first. Bool tensors travel as bytes.
torch::Tensor gather_with_gradient(Collective& collective, const torch::Tensor& local);

/// @return each value summed over the ranks.
std::vector<double> sum_over_ranks(Collective& collective, std::vector<double> values,
                                   const std::string& what);

/// @return whether `flag` is true on any rank.
bool any_rank(Collective& collective, bool flag, const std::string& what);

/// Gives every rank rank 0's parameters and buffers of `module` (same architecture everywhere).
void broadcast_module(Collective& collective, torch::nn::Module& module, const std::string& what);

/// Gives every rank rank 0's `bytes` (any length).
void broadcast_bytes(Collective& collective, std::string& bytes, const std::string& what);

}  // namespace guidance
