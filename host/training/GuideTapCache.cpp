#include "host/training/GuideTapCache.h"

#include <sstream>

namespace guidance {

GuideTapCache::GuideTapCache(int64_t examples, uint64_t budget_bytes,
                             std::vector<bool> kept_taps, bool keep_logits)
    : examples_(examples),
      budget_bytes_(budget_bytes),
      kept_taps_(std::move(kept_taps)),
      keep_logits_(keep_logits),
      status_("guide cache: empty") {}

std::vector<torch::Tensor> GuideTapCache::kept_parts(const NetworkOutput& output) const {
  std::vector<torch::Tensor> parts;
  if (keep_logits_) parts.push_back(output.logits);
  for (size_t i = 0; i < output.taps.size() && i < kept_taps_.size(); ++i) {
    if (kept_taps_[i]) parts.push_back(output.taps[i]);
  }
  return parts;
}

void GuideTapCache::turn_off(const std::string& why) {
  active_ = false;
  storage_.clear();
  stored_ = torch::Tensor();
  status_ = "guide cache: off, " + why;
}

std::optional<NetworkOutput> GuideTapCache::lookup(const torch::Tensor& indices,
                                                   torch::Device device) {
  if (!active_ || stored_count_ < indices.size(0)) return std::nullopt;
  if (!stored_.index_select(0, indices).all().item<bool>()) return std::nullopt;
  auto stored = storage_.begin();
  auto read = [&] { return (stored++)->index_select(0, indices).to(device); };
  NetworkOutput output;
  if (keep_logits_) output.logits = read();
  for (bool kept : kept_taps_) output.taps.push_back(kept ? read() : torch::Tensor());
  ++hits_;
  return output;
}

void GuideTapCache::store(const torch::Tensor& indices, const NetworkOutput& output) {
  if (!active_) return;
  std::vector<torch::Tensor> parts = kept_parts(output);
  if (storage_.empty()) {
    uint64_t bytes = 0;
    for (const auto& part : parts) {
      bytes += static_cast<uint64_t>(part.numel() / part.size(0)) * part.element_size();
    }
    bytes *= static_cast<uint64_t>(examples_);
    const uint64_t mib = (bytes + (1u << 20) - 1) >> 20;
    if (bytes > budget_bytes_) {
      turn_off("the train split's guide outputs need " + std::to_string(mib) +
               " MiB, more than guidance.guide_cache_mb = " + std::to_string(budget_bytes_ >> 20));
      return;
    }
    for (const auto& part : parts) {
      std::vector<int64_t> shape = part.sizes().vec();
      shape[0] = examples_;
      storage_.push_back(torch::empty(shape, part.options().device(torch::kCPU)));
    }
    stored_ = torch::zeros({examples_}, torch::kBool);
    status_ = "guide cache: on, " + std::to_string(mib) + " MiB for " +
              std::to_string(examples_) + " examples";
  }
  for (size_t i = 0; i < parts.size(); ++i) {
    if (parts[i].sizes().slice(1) != storage_[i].sizes().slice(1)) {
      std::ostringstream shapes;
      shapes << storage_[i].sizes().slice(1) << " then " << parts[i].sizes().slice(1);
      turn_off("the guide's outputs change shape between batches (" + shapes.str() + ")");
      return;
    }
  }
  const torch::Tensor& rows = indices;
  stored_count_ += rows.numel() - stored_.index_select(0, rows).sum().item<int64_t>();
  for (size_t i = 0; i < parts.size(); ++i) {
    storage_[i].index_copy_(0, rows, parts[i].detach().to(torch::kCPU));
  }
  stored_.index_fill_(0, rows, true);
}

}  // namespace guidance
