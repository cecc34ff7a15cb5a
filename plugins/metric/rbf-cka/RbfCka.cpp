#include "guidance/api/ParamTable.h"
#include "guidance/api/PluginApi.h"
#include "plugins/metric/common/Gram.h"
#include "plugins/metric/common/MetricSupport.h"

namespace guidance::metrics {
namespace {

using torch::Tensor;

const char* const kName = "rbf-cka";

// Features are centred and scaled to unit norm first: the kernel only sees distances relative to
// the median distance, which neither changes, and the squared distances stay O(1).
// The bandwidth follows the batch, and so does the gradient: the median is that of one pair's
// distance, differentiated like any other. Duplicate rows are left out of the median, so a batch
// with many repeated examples still gets a positive bandwidth.
Tensor rbf_gram(const Tensor& features, const Tensor& valid, double bandwidth) {
  Tensor sq_norms = features.square().sum(1);
  Tensor sq_distances =
      (sq_norms.unsqueeze(0) + sq_norms.unsqueeze(1) - 2.0 * gram(features))
          .clamp_min(0.0);
  Tensor pairs = upper_triangle(sq_distances);
  Tensor positive = pairs.masked_select(pairs.detach() > 0);
  // A constant side has no positive distance; its Gram is replaced by zeros further down anyway.
  Tensor sq_median =
      positive.numel() > 0 ? positive.median() : torch::ones({}, features.options());
  Tensor sq_sigma =
      torch::where(valid, (bandwidth * bandwidth) * sq_median, torch::ones_like(sq_median));
  return torch::exp(-sq_distances / (2.0 * sq_sigma));
}

Tensor double_centred(const Tensor& gram) {
  Tensor row_means = gram.mean(1, true);
  return gram - row_means - row_means.t() + row_means.mean();
}

MetricTraits rbf_cka_traits() {
  MetricTraits traits;
  traits.differentiable = true;
  traits.sense = MetricSense::Similarity;
  traits.lower = 0.0;
  traits.upper = 1.0;
  traits.formula = "<Kc, Lc> / (|Kc|_F |Lc|_F), K_ij = exp(-|x_i - x_j|^2 / (2 sigma_X^2)), "
                   "sigma_X = bandwidth * median_{i<j} |x_i - x_j|";
  traits.cost = "O(n^2 (d1 + d2) + n^2 log n)";
  traits.min_rows = 3;
  return traits;
}

class RbfCka final : public Metric {
 public:
  explicit RbfCka(double bandwidth) : bandwidth_(bandwidth) {}

  Tensor compute(const Tensor& x, const Tensor& y) const override {
    auto [xs, ys] = checked_pair(x, y, kName, traits_.min_rows);
    NormalisedFeatures fx = normalised_features(xs);
    NormalisedFeatures fy = normalised_features(ys);
    Tensor kx = double_centred(rbf_gram(fx.features, fx.valid, bandwidth_));
    Tensor ky = double_centred(rbf_gram(fy.features, fy.valid, bandwidth_));
    return guarded_cosine(kx, ky, fx.valid.logical_and(fy.valid)).clamp(0.0, 1.0);
  }
  const MetricTraits& traits() const override { return traits_; }

 private:
  double bandwidth_;
  MetricTraits traits_ = rbf_cka_traits();
};

// The plugin's parameters (rbf_cka_params() declares each), with their defaults.
struct RbfCkaOptions {
  double bandwidth = 1.0;
};

const ParamTable<RbfCkaOptions>& rbf_cka_params() {
  static const ParamTable<RbfCkaOptions> table =
      ParamTable<RbfCkaOptions>()
          .add("bandwidth", &RbfCkaOptions::bandwidth,
               "kernel width sigma as a fraction of the median distance between distinct examples "
               "of the batch (Kornblith et al. use 0.2 to 1)")
          .between(1e-3, 1e3);
  return table;
}

class RbfCkaPlugin final : public MetricPlugin {
 public:
  PluginInfo info() const override {
    return {kName, "1.0.0",
            "CKA with a Gaussian (RBF) kernel whose bandwidth is a fraction of the median "
            "pairwise distance (Kornblith et al. 2019); 0 when either side is constant",
            rbf_cka_params().specs()};
  }
  MetricTraits traits() const override { return rbf_cka_traits(); }
  std::shared_ptr<Metric> create(const Params& params) const override {
    return std::make_shared<RbfCka>(rbf_cka_params().read(params).bandwidth);
  }
};

}  // namespace
}  // namespace guidance::metrics

GUIDANCE_PLUGIN_LIBRARY(registry) {
  registry.add(std::make_shared<guidance::metrics::RbfCkaPlugin>());
}
