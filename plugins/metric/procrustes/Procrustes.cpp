#include "guidance/api/PluginApi.h"
#include "plugins/metric/common/MetricSupport.h"

namespace guidance::metrics {
namespace {

using torch::Tensor;

const char* const kName = "procrustes";

// min over orthogonal Q of ‖X̂ − ŶQ‖²_F = 2 − 2‖X̂ᵀŶ‖_* for unit-norm X̂, Ŷ (Ding et al. 2021;
// Williams et al. 2021). X̂ᵀŶ is d1×d2, too large for wide layers, so a side with d > n is first
// written in an orthonormal basis Q of its row space (X̂ = (X̂Q)Qᵀ exactly, Q from a QR of X̂ᵀ
// and held constant): the nuclear norm, and its gradient, do not change. The nuclear norm's
// gradient (U Vᵀ from the SVD) needs no singular-value gaps, so it stays finite for rank-deficient
// inputs.
Tensor in_row_space(const Tensor& features) {
  if (features.size(1) <= features.size(0)) return features;
  Tensor basis = std::get<0>(torch::linalg_qr(features.detach().t(), "reduced"));
  return features.mm(basis);
}

MetricTraits procrustes_traits() {
  MetricTraits traits;
  traits.differentiable = true;
  traits.sense = MetricSense::Distance;
  traits.lower = 0.0;
  traits.upper = 2.0;
  traits.formula = "min_{Q orthogonal} |X^ - Y^ Q|_F^2 = 2 - 2 |X^^T Y^|_*, X^ = Xc / |Xc|_F";
  traits.cost = "O(n d1 min(n, d1) + n d2 min(n, d2) + n min(n,d1) min(n,d2))";
  traits.min_rows = 2;
  return traits;
}

class Procrustes final : public Metric {
 public:
  Tensor compute(const Tensor& x, const Tensor& y) const override {
    auto [xs, ys] = checked_pair(x, y, kName, traits_.min_rows);
    Tensor fx = in_row_space(normalised_features(xs).features);
    Tensor fy = in_row_space(normalised_features(ys).features);
    Tensor nuclear = torch::linalg_svdvals(fx.t().mm(fy)).sum();
    return (2.0 - 2.0 * nuclear).clamp(0.0, 2.0);
  }
  const MetricTraits& traits() const override { return traits_; }

 private:
  MetricTraits traits_ = procrustes_traits();
};

class ProcrustesPlugin final : public MetricPlugin {
 public:
  PluginInfo info() const override {
    return {kName, "1.0.0",
            "orthogonal Procrustes shape distance between centred, unit-norm representations, "
            "in [0, 2]; 2 when either side is constant (it is treated as all zeros); no "
            "parameters",
            {}};
  }
  MetricTraits traits() const override { return procrustes_traits(); }
  std::shared_ptr<Metric> create(const Params&) const override {
    return std::make_shared<Procrustes>();
  }
};

}  // namespace
}  // namespace guidance::metrics

GUIDANCE_PLUGIN_LIBRARY(registry) {
  registry.add(std::make_shared<guidance::metrics::ProcrustesPlugin>());
}
