#include "host/representation/Similarity.h"

#include <torch/torch.h>

namespace guidance {

namespace {

// [n, ...] -> contiguous float32 [n, features] on the CPU, a view when it already is one.
torch::Tensor flat_float(const torch::Tensor& activation) {
  return activation.detach()
      .reshape({activation.size(0), -1})
      .to(torch::kCPU, torch::kFloat)
      .contiguous();
}

}  // namespace

torch::Tensor similarity_matrix(const Metric& metric, size_t rows, const ActivationLoader& row,
                                size_t columns, const ActivationLoader& column) {
  torch::NoGradGuard no_grad;
  auto matrix =
      torch::empty({static_cast<int64_t>(rows), static_cast<int64_t>(columns)}, torch::kDouble);
  auto entries = matrix.accessor<double, 2>();
  for (size_t i = 0; i < rows; ++i) {
    torch::Tensor row_features = flat_float(row(i));
    for (size_t j = 0; j < columns; ++j) {
      torch::Tensor column_features = flat_float(column(j));
      TORCH_CHECK(column_features.size(0) == row_features.size(0),
                  "similarity_matrix: row activation ", i, " has ", row_features.size(0),
                  " examples, column activation ", j, " has ", column_features.size(0));
      entries[static_cast<int64_t>(i)][static_cast<int64_t>(j)] =
          metric.similarity(row_features, column_features).item<double>();
    }
  }
  return matrix;
}

torch::Tensor similarity_matrix(const Metric& metric, const std::vector<torch::Tensor>& rows,
                                const std::vector<torch::Tensor>& columns) {
  return similarity_matrix(
      metric, rows.size(), [&](size_t i) { return rows[i]; }, columns.size(),
      [&](size_t j) { return columns[j]; });
}

torch::Tensor TapCache::get(const std::string& side, const std::string& tap) {
  std::string key = side + "/" + tap;
  auto found = kept_.find(key);
  if (found != kept_.end()) return found->second;
  torch::Tensor values = load_(side, tap);
  uint64_t bytes = values.nbytes();
  if (bytes > budget_) return values;
  while (held_ + bytes > budget_) {
    held_ -= kept_.at(order_.front()).nbytes();
    kept_.erase(order_.front());
    order_.erase(order_.begin());
  }
  kept_.emplace(key, values);
  order_.push_back(key);
  held_ += bytes;
  return values;
}

ActivationLoader TapCache::loader(const std::string& side, const std::vector<std::string>& taps) {
  return [this, side, &taps](size_t index) { return get(side, taps[index]); };
}

}  // namespace guidance
