#include "host/training/GuideTapCache.h"

#include <unistd.h>

#include <fstream>
#include <sstream>

namespace guidance {

namespace {

/// @return bytes the system can give without swapping: MemAvailable from /proc/meminfo, else
/// the free physical pages.
uint64_t available_memory_bytes() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  uint64_t kib = 0;
  std::string unit;
  while (meminfo >> key >> kib >> unit) {
    if (key == "MemAvailable:") return kib << 10;
  }
  const long pages = ::sysconf(_SC_AVPHYS_PAGES);
  const long page_size = ::sysconf(_SC_PAGESIZE);
  return pages > 0 && page_size > 0 ? static_cast<uint64_t>(pages) * page_size : 0;
}

}  // namespace

CacheBudget default_cache_budget(int64_t concurrent_runs) {
  const uint64_t available = available_memory_bytes();
  const uint64_t runs = static_cast<uint64_t>(std::max<int64_t>(1, concurrent_runs));
  std::string source = "half of the " + std::to_string(available >> 20) + " MiB available";
  if (runs > 1) source += ", shared by " + std::to_string(runs) + " runs";
  return {available / 2 / runs, source + "; guidance.guide_cache_mb sets it"};
}

GuideTapCache::GuideTapCache(int64_t examples, CacheBudget budget, std::vector<bool> kept_taps,
                             bool keep_logits, bool store_bf16)
    : examples_(examples),
      budget_(std::move(budget)),
      store_bf16_(store_bf16),
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

torch::Tensor GuideTapCache::stored_form(const torch::Tensor& part) const {
  return store_bf16_ && part.is_floating_point() ? part.to(torch::kBFloat16) : part;
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
  for (auto& part : parts) part = stored_form(part.detach());
  if (storage_.empty()) {
    uint64_t bytes = 0;
    for (const auto& part : parts) {
      bytes += static_cast<uint64_t>(part.numel() / part.size(0)) * part.element_size();
    }
    bytes *= static_cast<uint64_t>(examples_);
    const uint64_t mib = (bytes + (1u << 20) - 1) >> 20;
    const std::string budget =
        std::to_string(budget_.bytes >> 20) + " MiB (" + budget_.source + ")";
    if (bytes > budget_.bytes) {
      turn_off("the train split's guide outputs need " + std::to_string(mib) +
               " MiB, more than the budget of " + budget);
      return;
    }
    for (const auto& part : parts) {
      std::vector<int64_t> shape = part.sizes().vec();
      shape[0] = examples_;
      storage_.push_back(torch::empty(shape, part.options().device(torch::kCPU)));
    }
    stored_ = torch::zeros({examples_}, torch::kBool);
    status_ = "guide cache: on, " + std::to_string(mib) + " MiB" +
              (store_bf16_ ? " in bfloat16" : "") + " for " + std::to_string(examples_) +
              " examples, within " + budget;
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
    storage_[i].index_copy_(0, rows, parts[i].to(torch::kCPU));
  }
  stored_.index_fill_(0, rows, true);
}

}  // namespace guidance
