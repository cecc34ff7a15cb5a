#include "host/distributed/DataParallel.h"

#include <algorithm>
#include <cstring>

#include <torch/csrc/autograd/custom_function.h>

namespace guidance {

namespace {

struct GatherFunction : torch::autograd::Function<GatherFunction> {
  static torch::Tensor forward(torch::autograd::AutogradContext* context, torch::Tensor local,
                               Collective* collective) {
    const int64_t world = collective->world_size();
    // Every rank's trailing sizes, to pad each share to the largest before the gather.
    torch::Tensor sizes = torch::tensor(local.sizes().vec(), torch::kLong);
    torch::Tensor all_sizes =
        collective->all_gather(sizes.unsqueeze(0), "all-gather of tap shapes");
    torch::Tensor largest = std::get<0>(all_sizes.max(0));
    std::vector<int64_t> pad;  // constant_pad_nd: last dimension first, (before, after) each
    for (int64_t d = local.dim() - 1; d >= 1; --d) {
      pad.push_back(0);
      pad.push_back(largest[d].item<int64_t>() - local.size(d));
    }
    torch::Tensor shared = local.detach();
    const bool boolean = shared.scalar_type() == torch::kBool;
    if (boolean) shared = shared.to(torch::kByte);
    if (!pad.empty()) shared = torch::constant_pad_nd(shared, pad, 0);
    torch::Tensor gathered = collective->all_gather(shared, "all-gather of taps");
    context->saved_data["rank"] = static_cast<int64_t>(collective->rank());
    context->saved_data["world"] = world;
    context->saved_data["sizes"] = local.sizes().vec();
    return boolean ? gathered.to(torch::kBool) : gathered;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* context,
                                                 torch::autograd::variable_list gradients) {
    const int64_t rank = context->saved_data["rank"].toInt();
    const int64_t world = context->saved_data["world"].toInt();
    const std::vector<int64_t> sizes = context->saved_data["sizes"].toIntVector();
    torch::Tensor gradient = gradients[0].narrow(0, rank * sizes[0], sizes[0]);
    for (size_t d = 1; d < sizes.size(); ++d) {
      gradient = gradient.narrow(static_cast<int64_t>(d), 0, sizes[d]);
    }
    return {gradient * static_cast<double>(world), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor local_share(const Collective& collective, const torch::Tensor& indices) {
  const int64_t share = indices.size(0) / collective.world_size();
  return indices.narrow(0, collective.rank() * share, share);
}

void average_gradients(Collective& collective, const std::vector<torch::Tensor>& parameters,
                       int64_t bucket_bytes) {
  torch::NoGradGuard no_grad;
  std::vector<std::vector<torch::Tensor>> buckets;
  int64_t filled = bucket_bytes;
  for (const auto& parameter : parameters) {
    const torch::Tensor& gradient = parameter.grad();
    if (!gradient.defined()) continue;
    const int64_t bytes = gradient.numel() * static_cast<int64_t>(gradient.element_size());
    // A new bucket per dtype change too: a flat bucket holds one dtype.
    if (buckets.empty() || filled + bytes > bucket_bytes ||
        buckets.back().front().scalar_type() != gradient.scalar_type()) {
      buckets.emplace_back();
      filled = 0;
    }
    buckets.back().push_back(gradient);
    filled += bytes;
  }
  std::vector<torch::Tensor> flat;
  for (const auto& bucket : buckets) {
    std::vector<torch::Tensor> pieces;
    for (const auto& gradient : bucket) pieces.push_back(gradient.reshape({-1}));
    flat.push_back(torch::cat(pieces));
  }
  collective.all_reduce_sum(flat, "all-reduce of the gradients");
  const double world = collective.world_size();
  for (size_t b = 0; b < buckets.size(); ++b) {
    flat[b].div_(world);
    int64_t offset = 0;
    for (auto& gradient : buckets[b]) {
      gradient.copy_(flat[b].narrow(0, offset, gradient.numel()).view_as(gradient));
      offset += gradient.numel();
    }
  }
}

torch::Tensor gather_with_gradient(Collective& collective, const torch::Tensor& local) {
  return GatherFunction::apply(local, &collective);
}

std::vector<double> sum_over_ranks(Collective& collective, std::vector<double> values,
                                   const std::string& what) {
  std::vector<torch::Tensor> sums{torch::tensor(values, torch::kDouble)};
  collective.all_reduce_sum(sums, what);
  torch::Tensor summed = sums[0].contiguous();
  return {summed.data_ptr<double>(), summed.data_ptr<double>() + summed.numel()};
}

bool any_rank(Collective& collective, bool flag, const std::string& what) {
  return sum_over_ranks(collective, {flag ? 1.0 : 0.0}, what)[0] > 0;
}

void broadcast_module(Collective& collective, torch::nn::Module& module, const std::string& what) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> tensors;
  for (const auto& parameter : module.parameters()) tensors.push_back(parameter.data());
  for (const auto& buffer : module.buffers()) tensors.push_back(buffer);
  // Broadcast reads and writes dense buffers: copy through contiguous ones where needed.
  std::vector<torch::Tensor> dense;
  for (const auto& tensor : tensors) dense.push_back(tensor.contiguous());
  collective.broadcast(dense, what);
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (!dense[i].is_same(tensors[i])) tensors[i].copy_(dense[i]);
  }
}

void broadcast_bytes(Collective& collective, std::string& bytes, const std::string& what) {
  std::vector<torch::Tensor> size{
      torch::tensor({static_cast<int64_t>(bytes.size())}, torch::kLong)};
  collective.broadcast(size, what + " (size)");
  std::vector<torch::Tensor> content{torch::empty({size[0].item<int64_t>()}, torch::kByte)};
  if (collective.rank() == 0 && !bytes.empty()) {
    std::memcpy(content[0].data_ptr(), bytes.data(), bytes.size());
  }
  collective.broadcast(content, what);
  bytes.assign(static_cast<const char*>(content[0].data_ptr()),
               static_cast<size_t>(content[0].numel()));
}

}  // namespace guidance
