#include <algorithm>

#include "guidance/api/ParamTable.h"
#include "guidance/api/PluginApi.h"
#include "plugins/metric/common/MetricSupport.h"

namespace guidance::metrics {
namespace {

using torch::Tensor;

const char* const kName = "cca";

// CCA is computed for analysis only: its gradient runs through the whitening (the SVD's singular
// vectors), which divides by gaps between singular values and is unstable for the rank-deficient
// or nearly degenerate spectra activations have.

/// @return an orthonormal basis [n, k] of the column space of the centred features: the left
/// singular vectors above the numerical rank tolerance, cut further to the fewest that explain
/// `variance_share` of the variance when it is below 1 (SVCCA).
Tensor principal_basis(const Tensor& centred, double variance_share) {
  auto [u, s, vh] = torch::linalg_svd(centred, false);
  double tolerance = static_cast<double>(std::max(centred.size(0), centred.size(1))) *
                     epsilon_of(centred.scalar_type());
  int64_t rank = (s > tolerance * s[0]).sum().item<int64_t>();
  int64_t kept = rank;
  if (variance_share < 1.0) {
    Tensor energy = s.square();
    Tensor explained = energy.cumsum(0) / energy.sum();
    kept = std::min(rank, (explained < variance_share).sum().item<int64_t>() + 1);
  }
  return u.narrow(1, 0, kept);
}

MetricTraits cca_traits() {
  MetricTraits traits;
  traits.differentiable = false;
  traits.sense = MetricSense::Similarity;
  traits.lower = 0.0;
  traits.upper = 1.0;
  traits.formula = "mean_i rho_i (or sum_i alpha_i rho_i / sum_i alpha_i for pwcca), rho = "
                   "singular values of U_X^T U_Y, U = orthonormal basis of centred X (top SVD "
                   "components for svcca)";
  traits.cost = "O(n d1 min(n, d1) + n d2 min(n, d2))";
  traits.min_rows = 2;
  return traits;
}

class Cca final : public Metric {
 public:
  Cca(double variance_share, bool projection_weighted)
      : variance_share_(variance_share), projection_weighted_(projection_weighted) {}

  Tensor compute(const Tensor& x, const Tensor& y) const override {
    auto [xs, ys] = checked_pair(x, y, kName, traits_.min_rows);
    torch::NoGradGuard analysis_only;
    Tensor mean_x = xs.mean(0, true);
    Tensor mean_y = ys.mean(0, true);
    Tensor cx = xs - mean_x;
    Tensor cy = ys - mean_y;
    bool valid = has_spread(cx.square().sum(), mean_x, xs.size(0))
                     .logical_and(has_spread(cy.square().sum(), mean_y, ys.size(0)))
                     .item<bool>();
    if (!valid) return torch::zeros({}, xs.options());
    Tensor ux = principal_basis(cx, variance_share_);
    Tensor uy = principal_basis(cy, variance_share_);
    auto [p, rho, rh] = torch::linalg_svd(ux.t().mm(uy), false);
    rho = rho.clamp(0.0, 1.0);
    if (!projection_weighted_) return rho.mean();
    // PWCCA (Morcos et al. 2018): weight each canonical direction of x by how much of x's
    // neurons it accounts for, Σ_j |⟨h_i, x_j⟩|, h_i the i-th canonical variate of x.
    Tensor variates = ux.mm(p.narrow(1, 0, rho.size(0)));
    Tensor weights = variates.t().mm(cx).abs().sum(1);
    return (weights * rho).sum() / weights.sum();
  }
  const MetricTraits& traits() const override { return traits_; }

 private:
  double variance_share_;
  bool projection_weighted_;
  MetricTraits traits_ = cca_traits();
};

// The plugin's parameters (cca_params() declares each), with their defaults.
struct CcaOptions {
  double svcca_variance = 1.0;
  bool pwcca = false;
};

const ParamTable<CcaOptions>& cca_params() {
  static const ParamTable<CcaOptions> table =
      ParamTable<CcaOptions>()
          .add("svcca_variance", &CcaOptions::svcca_variance,
               "SVCCA: keep the fewest top singular directions of each side that explain this "
               "share of its variance (Raghu et al. 2017 use 0.99); 1 keeps every direction above "
               "numerical rank (plain CCA)")
          .between(0.01, 1.0)
          .add_choice("weighting", &CcaOptions::pwcca,
                      "\"mean\": mean of the canonical correlations; \"pwcca\": "
                      "projection-weighted mean of Morcos et al. (2018), weights from x (so not "
                      "symmetric)",
                      {{"mean", false}, {"pwcca", true}});
  return table;
}

class CcaPlugin final : public MetricPlugin {
 public:
  PluginInfo info() const override {
    return {kName, "1.0.0",
            "mean canonical correlation between centred representations, with SVCCA truncation "
            "and PWCCA weighting as options; analysis only (not differentiable); 0 when either "
            "side is constant. With d >= n - 1 on both sides every correlation is 1: use "
            "svcca_variance < 1 or more examples than features",
            cca_params().specs()};
  }
  MetricTraits traits() const override { return cca_traits(); }
  std::shared_ptr<Metric> create(const Params& params) const override {
    const CcaOptions options = cca_params().read(params);
    return std::make_shared<Cca>(options.svcca_variance, options.pwcca);
  }
};

}  // namespace
}  // namespace guidance::metrics

GUIDANCE_PLUGIN_LIBRARY(registry) {
  registry.add(std::make_shared<guidance::metrics::CcaPlugin>());
}
