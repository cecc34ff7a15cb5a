#include "guidance/api/ParamTable.h"
#include "guidance/api/PluginApi.h"
#include "plugins/metric/common/Gram.h"
#include "plugins/metric/common/MetricSupport.h"

namespace guidance::metrics {
namespace {

using torch::Tensor;

const char* const kName = "rsa";

/// @return the upper triangle of the cosine-similarity matrix of the rows of x (a zero row has
/// cosine 0 with every row).
Tensor cosine_similarity_entries(const Tensor& x) {
  Tensor unit = unit_rows(x);
  return upper_triangle(gram(unit));
}

/// @return the ranks (1-based) of the entries of v, tied entries sharing their mean rank.
Tensor average_ranks(const Tensor& v) {
  auto [sorted, order] = v.sort();
  auto [values, inverse, counts] = torch::unique_consecutive(sorted, false, true);
  Tensor ends = counts.cumsum(0).to(v.scalar_type());
  Tensor group_ranks = ends - (counts.to(v.scalar_type()) - 1.0) / 2.0;
  Tensor ranks = torch::empty_like(v);
  ranks.index_put_({order}, group_ranks.repeat_interleave(counts));
  return ranks;
}

/// Pearson correlation; 0 when either vector is constant up to rounding.
Tensor pearson(const Tensor& u, const Tensor& v) {
  Tensor mean_u = u.mean();
  Tensor mean_v = v.mean();
  Tensor centred_u = u - mean_u;
  Tensor centred_v = v - mean_v;
  Tensor valid = has_spread(centred_u.square().sum(), mean_u, u.numel())
                     .logical_and(has_spread(centred_v.square().sum(), mean_v, v.numel()));
  return guarded_cosine(centred_u, centred_v, valid).clamp(-1.0, 1.0);
}

MetricTraits rsa_traits(bool spearman) {
  MetricTraits traits;
  traits.differentiable = !spearman;
  traits.sense = MetricSense::Similarity;
  traits.lower = -1.0;
  traits.upper = 1.0;
  traits.formula = spearman ? "spearman(triu(S_X), triu(S_Y)), S_X = cosine similarities of the "
                              "rows of X, triu = entries above the diagonal"
                            : "pearson(triu(S_X), triu(S_Y)), S_X = cosine similarities of the "
                              "rows of X, triu = entries above the diagonal";
  traits.cost = spearman ? "O(n^2 (d1 + d2) + n^2 log n)" : "O(n^2 (d1 + d2))";
  traits.min_rows = 3;
  return traits;
}

class Rsa final : public Metric {
 public:
  explicit Rsa(bool spearman) : spearman_(spearman), traits_(rsa_traits(spearman)) {}

  Tensor compute(const Tensor& x, const Tensor& y) const override {
    auto [xs, ys] = checked_pair(x, y, kName, traits_.min_rows);
    if (!spearman_) {
      return pearson(cosine_similarity_entries(xs), cosine_similarity_entries(ys));
    }
    torch::NoGradGuard analysis_only;
    return pearson(average_ranks(cosine_similarity_entries(xs)),
                   average_ranks(cosine_similarity_entries(ys)));
  }
  const MetricTraits& traits() const override { return traits_; }

 private:
  bool spearman_;
  MetricTraits traits_;
};

// The plugin's parameters (rsa_params() declares each), with their defaults.
struct RsaOptions {
  bool spearman = false;
};

const ParamTable<RsaOptions>& rsa_params() {
  static const ParamTable<RsaOptions> table =
      ParamTable<RsaOptions>().add_choice(
          "correlation", &RsaOptions::spearman,
          "\"pearson\" (differentiable, usable for guidance) or \"spearman\" (rank correlation, "
          "ties averaged; analysis only: the metric it creates is not differentiable)",
          {{"pearson", false}, {"spearman", true}});
  return table;
}

class RsaPlugin final : public MetricPlugin {
 public:
  PluginInfo info() const override {
    return {kName, "1.0.0",
            "representational similarity analysis: correlation of the upper triangles of the two "
            "cosine-similarity matrices; 0 when either triangle is constant",
            rsa_params().specs()};
  }
  MetricTraits traits() const override { return rsa_traits(false); }
  std::shared_ptr<Metric> create(const Params& params) const override {
    return std::make_shared<Rsa>(rsa_params().read(params).spearman);
  }
};

}  // namespace
}  // namespace guidance::metrics

GUIDANCE_PLUGIN_LIBRARY(registry) {
  registry.add(std::make_shared<guidance::metrics::RsaPlugin>());
}
