#include <string>

#include "guidance/api/ParamTable.h"
#include "guidance/api/PluginApi.h"
#include "plugins/metric/common/Gram.h"
#include "plugins/metric/common/MetricSupport.h"

namespace guidance::metrics {
namespace {

using torch::Tensor;

const char* const kName = "mutual-knn";

/// @return a boolean [n, n] matrix whose row i marks the k nearest neighbours of example i by
/// cosine similarity (itself excluded; ties broken by index).
Tensor neighbourhoods(const Tensor& x, int64_t k) {
  int64_t n = x.size(0);
  Tensor unit = unit_rows(x);
  Tensor similarity = gram(unit);
  similarity.fill_diagonal_(-std::numeric_limits<double>::infinity());
  Tensor nearest = std::get<1>(similarity.topk(k, 1));
  return torch::zeros({n, n}, x.options().dtype(torch::kBool))
      .scatter_(1, nearest, true);
}

constexpr int64_t kDefaultK = 10;

MetricTraits mutual_knn_traits(int64_t k) {
  MetricTraits traits;
  traits.differentiable = false;
  traits.sense = MetricSense::Similarity;
  traits.lower = 0.0;
  traits.upper = 1.0;
  traits.formula = "mean_i |N_k^X(i) & N_k^Y(i)| / k, N_k(i) = the k rows most cosine-similar "
                   "to row i";
  traits.cost = "O(n^2 (d1 + d2) + n^2 log k)";
  traits.min_rows = k + 1;
  return traits;
}

class MutualKnn final : public Metric {
 public:
  explicit MutualKnn(int64_t k)
      : k_(k), label_(std::string(kName) + " (k = " + std::to_string(k) + ")"),
        traits_(mutual_knn_traits(k)) {}

  Tensor compute(const Tensor& x, const Tensor& y) const override {
    auto [xs, ys] = checked_pair(x, y, label_, traits_.min_rows);
    torch::NoGradGuard analysis_only;
    Tensor shared = neighbourhoods(xs, k_).logical_and(neighbourhoods(ys, k_));
    return shared.sum().to(xs.scalar_type()) / static_cast<double>(xs.size(0) * k_);
  }
  const MetricTraits& traits() const override { return traits_; }

 private:
  int64_t k_;
  std::string label_;  ///< names k in errors: the row minimum follows from it
  MetricTraits traits_;
};

// The plugin's parameters (mutual_knn_params() declares each), with their defaults.
struct MutualKnnOptions {
  int64_t k = kDefaultK;
};

const ParamTable<MutualKnnOptions>& mutual_knn_params() {
  static const ParamTable<MutualKnnOptions> table =
      ParamTable<MutualKnnOptions>()
          .add("k", &MutualKnnOptions::k, "neighbours per example; must be below the batch size n")
          .at_least(1);
  return table;
}

class MutualKnnPlugin final : public MetricPlugin {
 public:
  PluginInfo info() const override {
    return {kName, "1.0.0",
            "mutual k-nearest-neighbour alignment (Huh et al. 2024): the mean share of each "
            "example's k cosine nearest neighbours found in both representations; analysis only",
            mutual_knn_params().specs()};
  }
  MetricTraits traits() const override { return mutual_knn_traits(kDefaultK); }
  std::shared_ptr<Metric> create(const Params& params) const override {
    return std::make_shared<MutualKnn>(mutual_knn_params().read(params).k);
  }
};

}  // namespace
}  // namespace guidance::metrics

GUIDANCE_PLUGIN_LIBRARY(registry) {
  registry.add(std::make_shared<guidance::metrics::MutualKnnPlugin>());
}
