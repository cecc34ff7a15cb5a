#include "guidance/api/PluginApi.h"
#include "plugins/metric/common/Gram.h"
#include "plugins/metric/common/MetricSupport.h"

namespace guidance::metrics {
namespace {

using torch::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

// Linear CKA with X̄, Ȳ the row-centred features and K = X̄X̄ᵀ, L = ȲȲᵀ:
//   CKA = ⟨K, L⟩ / (‖K‖ ‖L‖),   with ⟨K, L⟩ = ‖X̄ᵀȲ‖²_F,  ‖K‖ = ‖X̄ᵀX̄‖_F.
// When d is large the n×n Grams are the cheap route, when d is small the d×d
// (cross-)covariances; both are scaled by their trace a = ‖X̄‖²_F first so nothing overflows for
// huge d or large activations.
//
// Gram route: the only O(n²d) work is the three Gram-shaped matmuls it fundamentally needs
// (K = XXᵀ, L = YYᵀ and one G·X backward). The uncentred Gram XXᵀ is centred on the n×n matrix in
// float64 (HKH = K − r1ᵀ − 1rᵀ + m11ᵀ, r the row means, O(n²)), so no centred copy of X is made.
// That loses the bits of XXᵀ spent on the offset, a factor ‖X‖²/‖X̄‖² = trace K / trace HKH; when
// it exceeds kOffsetLimit (a large common offset, a constant side), or when d < kWideFactor · n
// (where the O(nd) copy is cheaper than the float64 n×n passes), the side falls back to
// centring the features first and recomputing its Gram from X̄, as accurate as before.
//
// The gradient is written by hand because autograd would differentiate X̄X̄ᵀ through both of its
// operands (two n×n×d products); the closed form needs one:
//   ∂CKA/∂X = 2 / (a ‖K̂‖ ‖L̂‖) · (L̂ − (⟨K̂, L̂⟩ / ‖K̂‖²) K̂) X̄,   K̂ = K / a,  L̂ = L / b,
// which is already centred (K̂ and L̂ have zero row sums), so it is also ∂CKA/∂X before centring,
// and, as the n×n factor has zero row and column sums, it equals (…)·X: the backward multiplies
// the uncentred X (or X̄ after a fallback) by one n×n matrix built in float64.

const char* const kName = "linear-cka";

/// One side's normalised second moment, in whichever route was chosen.
struct Side {
  Tensor features;  // what the backward multiplies: X̄ (covariance route, fallback) or X
  Tensor moment;    // K̂ = HKH / a (Gram route; float64 when from XXᵀ) or X̄ᵀX̄ / a
  Tensor scale;     // a = ‖X̄‖²_F, 1 when the side is constant
  Tensor norm;      // ‖moment‖_F, 1 when the side is constant
  Tensor valid;     // false when the side is constant
};

/// Scales a centred second moment by its trace; a constant side gets scale and norm 1.
void normalise(Side& side, const Tensor& moment, const Tensor& trace) {
  Tensor one = torch::ones_like(trace);
  side.scale = torch::where(side.valid, trace, one);
  side.moment = moment / side.scale;
  side.norm = torch::where(side.valid, side.moment.norm(), one);
}

/// @return HKH for a float64 n×n Gram K, without n×n products.
Tensor double_centred(const Tensor& gram) {
  Tensor rows = gram.mean(1, true);
  return gram - rows - rows.t() + rows.mean();
}

Side covariance_side(const Tensor& x) {
  Side side;
  Tensor mean = x.mean(0, true);
  side.features = x - mean;
  Tensor moment = gram(side.features, GramOf::Columns);
  Tensor trace = moment.trace();
  side.valid = has_spread(trace, mean, x.size(0));
  normalise(side, moment, trace);
  return side;
}

Side gram_side(const Tensor& x) {
  Side side;
  int64_t n = x.size(0);
  Tensor uncentred = wide_uncentred_gram(x);
  if (uncentred.defined()) {
    Tensor centred = double_centred(uncentred);
    Tensor trace = centred.trace();
    side.features = x;
    side.valid = torch::ones({}, trace.options().dtype(torch::kBool));
    normalise(side, centred, trace);
    return side;
  }
  Tensor mean = x.mean(0, true);
  side.features = x - mean;
  Tensor moment = gram(side.features);
  Tensor trace = moment.trace();
  side.valid = has_spread(trace, mean, n);
  normalise(side, moment, trace);
  return side;
}

bool gram_is_cheaper(int64_t n, int64_t d1, int64_t d2) {
  return n * (d1 + d2) <= d1 * d1 + d2 * d2 + d1 * d2;
}

class LinearCkaFunction : public torch::autograd::Function<LinearCkaFunction> {
 public:
  static Tensor forward(AutogradContext* ctx, const Tensor& x, const Tensor& y) {
    torch::NoGradGuard hand_written_backward;  // lets gram() take the BLAS syrk route
    bool gram_route = gram_is_cheaper(x.size(0), x.size(1), y.size(1));
    Side sx = gram_route ? gram_side(x) : covariance_side(x);
    Side sy = gram_route ? gram_side(y) : covariance_side(y);
    // The cross moment in the covariance route: X̄ᵀȲ / sqrt(ab), so ⟨K̂, L̂⟩ = ‖cross‖².
    Tensor cross;
    Tensor alignment;
    if (gram_route) {
      alignment = (sx.moment * sy.moment).sum();
    } else {
      cross = sx.features.t().mm(sy.features) / (sx.scale * sy.scale).sqrt();
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
    if (x.requires_grad() || !gram_route) ctx->saved_data["x.features"] = sx.features;
    if (y.requires_grad() || !gram_route) ctx->saved_data["y.features"] = sy.features;
    return value.clamp(0.0, 1.0).to(x.scalar_type());
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
          valid, 2.0 * grad_outputs[0].to(scale.scalar_type()) /
                     (scale * norm * saved(other + ".norm")),
          torch::zeros_like(scale));
      Tensor shrink = alignment / norm.square();
      Tensor own = saved(self + ".moment");
      Tensor features = saved(self + ".features");
      if (gram_route) {
        Tensor factor = (saved(other + ".moment") - shrink * own) * coefficient;
        return factor.to(features.scalar_type()).mm(features);
      }
      // L̂X̄ = Ȳ(X̄ᵀȲ)ᵀ / b = Ȳ crossᵀ sqrt(a/b) (and with x and y swapped).
      Tensor ratio = (scale / saved(other + ".scale")).sqrt();
      Tensor cross = saved("cross");
      Tensor oriented = self_is_x ? cross.t() : cross;
      return saved(other + ".features").mm(oriented * (coefficient * ratio)) -
             features.mm(own * (coefficient * shrink));
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
                   "(for d < n computed as |Xc^T Yc|_F^2 / (|Xc^T Xc|_F |Yc^T Yc|_F))";
  traits.cost = "O(n min(n, d1 + d2) (d1 + d2)): n^2 (d1 + d2) via Grams when d > n, "
                "n (d1^2 + d2^2 + d1 d2) via covariances otherwise";
  traits.min_rows = 2;
  return traits;
}

class LinearCka final : public Metric {
 public:
  Tensor compute(const Tensor& x, const Tensor& y) const override {
    auto [xs, ys] = checked_pair(x, y, kName, traits_.min_rows);
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
