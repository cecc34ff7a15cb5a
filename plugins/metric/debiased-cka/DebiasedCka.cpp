#include "guidance/api/PluginApi.h"
#include "plugins/metric/common/Gram.h"
#include "plugins/metric/common/MetricSupport.h"

namespace guidance::metrics {
namespace {

using torch::Tensor;

const char* const kName = "debiased-cka";

// U-centring (Székely & Rizzo 2014): ⟨U(K), U(L)⟩ = n(n − 3) · HSIC_u(K, L), the unbiased HSIC
// estimator of Song et al. (2012), so CKA built on it is not biased upward at small n. Features
// are centred and scaled to unit norm first (U-centring ignores both; rounding does not).
Tensor u_centred_gram(const Tensor& features) {
  int64_t n = features.size(0);
  Tensor off_diagonal = torch::eye(n, features.options().dtype(torch::kBool)).logical_not();
  Tensor hollow = gram(features) * off_diagonal;
  Tensor means = hollow.sum(0) / static_cast<double>(n - 2);
  means = means - means.sum() / (2.0 * static_cast<double>(n - 1));
  return (hollow - means.unsqueeze(0) - means.unsqueeze(1)) * off_diagonal;
}

MetricTraits debiased_cka_traits() {
  MetricTraits traits;
  traits.differentiable = true;
  traits.sense = MetricSense::Similarity;
  traits.lower = -1.0;
  traits.upper = 1.0;
  traits.formula = "HSIC_u(K, L) / sqrt(HSIC_u(K, K) HSIC_u(L, L)), HSIC_u the unbiased "
                   "estimator (Song et al. 2012), K = X X^T, L = Y Y^T";
  traits.cost = "O(n^2 (d1 + d2))";
  return traits;
}

class DebiasedCka final : public Metric {
 public:
  Tensor compute(const Tensor& x, const Tensor& y) const override {
    auto [xs, ys] = checked_pair(x, y, kName, 4);
    NormalisedFeatures fx = normalised_features(xs);
    NormalisedFeatures fy = normalised_features(ys);
    return guarded_cosine(u_centred_gram(fx.features), u_centred_gram(fy.features),
                          fx.valid.logical_and(fy.valid))
        .clamp(-1.0, 1.0);
  }
  const MetricTraits& traits() const override { return traits_; }

 private:
  MetricTraits traits_ = debiased_cka_traits();
};

class DebiasedCkaPlugin final : public MetricPlugin {
 public:
  PluginInfo info() const override {
    return {kName, "1.0.0",
            "linear CKA on the unbiased HSIC estimator (Nguyen, Raghu & Kornblith 2021), not "
            "biased upward at small batches; in [-1, 1]; needs n >= 4; 0 when either side is "
            "constant; no parameters",
            {}};
  }
  MetricTraits traits() const override { return debiased_cka_traits(); }
  std::shared_ptr<Metric> create(const Params&) const override {
    return std::make_shared<DebiasedCka>();
  }
};

}  // namespace
}  // namespace guidance::metrics

GUIDANCE_PLUGIN_LIBRARY(registry) {
  registry.add(std::make_shared<guidance::metrics::DebiasedCkaPlugin>());
}
