#include "guidance/api/PluginApi.h"
#include "plugins/metric/common/MetricSupport.h"

namespace guidance::metrics {
namespace {

using torch::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

// Linear CKA with X̄, Ȳ the row-centred features and K = X̄X̄ᵀ, L = ȲȲᵀ:
//   CKA = ⟨K, L⟩ / (‖K‖ ‖L‖),   with ⟨K, L⟩ = ‖X̄ᵀȲ‖²_F,  ‖K‖ = ‖X̄ᵀX̄‖_F.
// Centring the features (O(nd)) replaces the n×n centring products H K H. When d is large the
// n×n Grams are the cheap route, when d is small the d×d (cross-)covariances; both are scaled by
// their trace a = ‖X̄‖²_F first so nothing overflows for huge d or large activations.
//
// The gradient is written by hand because autograd would differentiate X̄X̄ᵀ through both of its
// operands (two n×n×d products); the closed form needs one:
//   ∂CKA/∂X = 2 / (a ‖K̂‖ ‖L̂‖) · (L̂ − (⟨K̂, L̂⟩ / ‖K̂‖²) K̂) X̄,   K̂ = K / a,  L̂ = L / b,
// which is already centred (K̂ and L̂ have zero row sums), so it is also ∂CKA/∂X before centring.

const char* const kName = "linear-cka";

/// One side's normalised second moment, in whichever route was chosen.
struct Side {
  Tensor centred;  // X̄, [n, d]
  Tensor moment;   // K̂ = X̄X̄ᵀ / a (Gram route) or X̄ᵀX̄ / a (covariance route)
  Tensor scale;    // a = ‖X̄‖²_F, 1 when the side is constant
  Tensor norm;     // ‖moment‖_F, 1 when the side is constant
  Tensor valid;    // false when the side is constant
};

Side side_of(const Tensor& x, bool gram_route) {
  Side side;
  Tensor mean = x.mean(0, true);
  side.centred = x - mean;
  Tensor moment = gram_route ? side.centred.mm(side.centred.t())
                             : side.centred.t().mm(side.centred);
  Tensor trace = moment.trace();
  side.valid = has_spread(trace, mean, x.size(0));
  Tensor one = torch::ones_like(trace);
  side.scale = torch::where(side.valid, trace, one);
  side.moment = moment / side.scale;
  side.norm = torch::where(side.valid, side.moment.norm(), one);
  return side;
}

bool gram_is_cheaper(int64_t n, int64_t d1, int64_t d2) {
  return n * (d1 + d2) <= d1 * d1 + d2 * d2 + d1 * d2;
}

class LinearCkaFunction : public torch::autograd::Function<LinearCkaFunction> {
 public:
  static Tensor forward(AutogradContext* ctx, const Tensor& x, const Tensor& y) {
    bool gram_route = gram_is_cheaper(x.size(0), x.size(1), y.size(1));
    Side sx = side_of(x, gram_route);
    Side sy = side_of(y, gram_route);
    // The cross moment in the covariance route: X̄ᵀȲ / sqrt(ab), so ⟨K̂, L̂⟩ = ‖cross‖².
    Tensor cross;
    Tensor alignment;
    if (gram_route) {
      alignment = (sx.moment * sy.moment).sum();
    } else {
      cross = sx.centred.t().mm(sy.centred) / (sx.scale * sy.scale).sqrt();
      alignment = cross.square().sum();
    }
    Tensor valid = sx.valid.logical_and(sy.valid);
    Tensor value = torch::where(valid, alignment / (sx.norm * sy.norm),
                                torch::zeros_like(alignment));
    ctx->saved_data["gram_route"] = gram_route;
    ctx->saved_data["valid"] = valid;
    ctx->saved_data["alignment"] = alignment;
    if (!gram_route) ctx->saved_data["cross"] = cross;
    for (const auto& [key, side] : {std::pair{"x", &sx}, std::pair{"y", &sy}}) {
      std::string name(key);
      ctx->saved_data[name + ".moment"] = side->moment;
      ctx->saved_data[name + ".scale"] = side->scale;
      ctx->saved_data[name + ".norm"] = side->norm;
    }
    // The Gram route needs only the differentiated side's features; the covariance route both.
    if (x.requires_grad() || !gram_route) ctx->saved_data["x.centred"] = sx.centred;
    if (y.requires_grad() || !gram_route) ctx->saved_data["y.centred"] = sy.centred;
    return value.clamp(0.0, 1.0);
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grad_outputs) {
    auto saved = [&](const std::string& key) { return ctx->saved_data[key].toTensor(); };
    bool gram_route = ctx->saved_data["gram_route"].toBool();
    Tensor valid = saved("valid");
    Tensor alignment = saved("alignment");
    // Gradient of one side ("self") given the other; the formula is symmetric in x and y.
    auto gradient = [&](const std::string& self, const std::string& other, bool self_is_x) {
      Tensor scale = saved(self + ".scale");
      Tensor norm = saved(self + ".norm");
      Tensor coefficient = torch::where(
          valid, 2.0 * grad_outputs[0] / (scale * norm * saved(other + ".norm")),
          torch::zeros_like(scale));
      Tensor shrink = alignment / norm.square();
      Tensor own = saved(self + ".moment");
      Tensor centred = saved(self + ".centred");
      if (gram_route) {
        return (coefficient * (saved(other + ".moment") - shrink * own)).mm(centred);
      }
      // L̂X̄ = Ȳ(X̄ᵀȲ)ᵀ / b = Ȳ crossᵀ sqrt(a/b) (and with x and y swapped).
      Tensor ratio = (scale / saved(other + ".scale")).sqrt();
      Tensor cross = saved("cross");
      Tensor oriented = self_is_x ? cross.t() : cross;
      return saved(other + ".centred").mm(oriented * (coefficient * ratio)) -
             centred.mm(own * (coefficient * shrink));
    };
    Tensor grad_x = ctx->needs_input_grad(0) ? gradient("x", "y", true) : Tensor();
    Tensor grad_y = ctx->needs_input_grad(1) ? gradient("y", "x", false) : Tensor();
    return {grad_x, grad_y};
  }
};

MetricTraits linear_cka_traits() {
  MetricTraits traits;
  traits.differentiable = true;
  traits.sense = MetricSense::Similarity;
  traits.lower = 0.0;
  traits.upper = 1.0;
  traits.formula = "<Kc, Lc> / (|Kc|_F |Lc|_F), K = X X^T, L = Y Y^T, Kc, Lc centred "
                   "(computed as |Xc^T Yc|_F^2 / (|Xc^T Xc|_F |Yc^T Yc|_F))";
  traits.cost = "O(n min(n, d1 + d2) (d1 + d2)): n^2 (d1 + d2) via Grams when d > n, "
                "n (d1^2 + d2^2 + d1 d2) via covariances otherwise";
  return traits;
}

class LinearCka final : public Metric {
 public:
  Tensor compute(const Tensor& x, const Tensor& y) const override {
    auto [xs, ys] = checked_pair(x, y, kName, 2);
    return LinearCkaFunction::apply(xs, ys);
  }
  const MetricTraits& traits() const override { return traits_; }

 private:
  MetricTraits traits_ = linear_cka_traits();
};

class LinearCkaPlugin final : public MetricPlugin {
 public:
  PluginInfo info() const override {
    return {kName, "1.0.0",
            "centred linear CKA over the minibatch (Kornblith et al. 2019), the paper's metric; "
            "0 when either side is constant; no parameters",
            {}};
  }
  MetricTraits traits() const override { return linear_cka_traits(); }
  std::shared_ptr<Metric> create(const Params&) const override {
    return std::make_shared<LinearCka>();
  }
};

}  // namespace
}  // namespace guidance::metrics

GUIDANCE_PLUGIN_LIBRARY(registry) {
  registry.add(std::make_shared<guidance::metrics::LinearCkaPlugin>());
}
