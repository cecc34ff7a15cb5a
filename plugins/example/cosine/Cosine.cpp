// Example plugin: a representational metric, the cosine between the two sides' Gram matrices.
//
// A metric plugin is two classes: the plugin, a stateless factory that describes itself and the
// traits of every metric it makes, and the metric it creates from validated parameters. The
// metric compares the target's activations x [n, d1] with the guide's y [n, d2] over the same n
// examples; both sides become n×n Gram matrices, so d1 and d2 need not match.
#include <torch/torch.h>

#include "guidance/api/ParamTable.h"
#include "guidance/api/PluginApi.h"

namespace {

const char* const kName = "example-cosine";

// Declared once: the plugin reports these without creating a metric (listing, `describe`, the
// check that guidance's metric is differentiable), and the metrics it creates report the same.
guidance::MetricTraits cosine_traits() {
  guidance::MetricTraits traits;
  traits.differentiable = true;  // autograd carries gradients to x: it may drive guidance
  traits.sense = guidance::MetricSense::Similarity;  // reported as is; the host flips it
  traits.lower = 0.0;  // Grams are positive semi-definite, so <K, L> >= 0
  traits.upper = 1.0;
  traits.formula = "<K, L> / (|K|_F |L|_F), K = X X^T, L = Y Y^T (rows centred if centred = true)";
  traits.cost = "O(n^2 (d1 + d2))";
  traits.min_rows = 2;  // one example has a 1×1 Gram: the cosine would always be 1
  return traits;
}

class CosineMetric : public guidance::Metric {
 public:
  explicit CosineMetric(bool centred) : centred_(centred) {}

  // Returns a scalar tensor in [lower, upper], of the inputs' dtype, differentiable in x.
  torch::Tensor compute(const torch::Tensor& x, const torch::Tensor& y) const override {
    // Argument errors name the metric: the host and `guidance plugins test` expect that.
    TORCH_CHECK(x.dim() == 2 && y.dim() == 2, kName, ": activations must be matrices [n, d], got ",
                x.sizes(), " and ", y.sizes());
    TORCH_CHECK(x.size(0) == y.size(0), kName, ": x has ", x.size(0), " rows but y has ",
                y.size(0));
    TORCH_CHECK(x.size(0) >= traits_.min_rows, kName, " needs at least ", traits_.min_rows,
                " rows, got ", x.size(0));
    torch::Tensor k = gram(x);
    torch::Tensor l = gram(y);
    torch::Tensor norms = k.norm() * l.norm();
    // An all-zero Gram (a side of zeros, or constant when centred) has no direction: its value is
    // 0, and the guarded denominator keeps the gradient finite instead of 0/0.
    torch::Tensor defined = norms > 0;
    torch::Tensor safe = torch::where(defined, norms, torch::ones_like(norms));
    torch::Tensor cosine = torch::where(defined, (k * l).sum() / safe, torch::zeros_like(norms));
    return cosine.clamp(traits_.lower, traits_.upper);  // rounding may step past 1
  }

  const guidance::MetricTraits& traits() const override { return traits_; }

 private:
  torch::Tensor gram(const torch::Tensor& features) const {
    torch::Tensor rows = centred_ ? features - features.mean(0, true) : features;
    return rows.mm(rows.t());
  }

  bool centred_;
  guidance::MetricTraits traits_ = cosine_traits();
};

// The plugin's parameters, declared once (see guidance/api/ParamTable.h).
struct CosineOptions {
  bool centred = false;
};

const guidance::ParamTable<CosineOptions>& cosine_params() {
  static const guidance::ParamTable<CosineOptions> table =
      guidance::ParamTable<CosineOptions>().add(
          "centred", &CosineOptions::centred, "centre each side's rows first (then: linear CKA)");
  return table;
}

// The factory. traits() returns a value here (no metric exists yet); Metric::traits() above
// returns a reference to the created metric's own.
class CosinePlugin : public guidance::MetricPlugin {
 public:
  guidance::PluginInfo info() const override {
    return {kName, "1.0.0", "example: cosine between the two sides' Gram matrices",
            cosine_params().specs()};
  }

  guidance::MetricTraits traits() const override { return cosine_traits(); }

  std::shared_ptr<guidance::Metric> create(const guidance::Params& params) const override {
    return std::make_shared<CosineMetric>(cosine_params().read(params).centred);
  }
};

}  // namespace

GUIDANCE_PLUGIN_LIBRARY(registry) { registry.add(std::make_shared<CosinePlugin>()); }
