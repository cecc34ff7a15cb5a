#include "guidance/api/PluginApi.h"
#include "plugins/metric/common/Gram.h"
#include "plugins/metric/common/MetricSupport.h"

namespace guidance::metrics {
namespace {

using torch::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

const char* const kName = "debiased-cka";

// U-centring (Székely & Rizzo 2014): ⟨U(K), U(L)⟩ = n(n − 3) · HSIC_u(K, L), the unbiased HSIC
// estimator of Song et al. (2012), so CKA built on it is not biased upward at small n. Features
// are centred and scaled to unit norm first (U-centring ignores both; rounding does not).
/// @return U(K) for a symmetric n×n K: zero diagonal, off-diagonal rows and columns centred.
Tensor u_centred(const Tensor& gram) {
  int64_t n = gram.size(0);
  Tensor off_diagonal = torch::eye(n, gram.options().dtype(torch::kBool)).logical_not();
  Tensor hollow = gram * off_diagonal;
  Tensor means = hollow.sum(0) / static_cast<double>(n - 2);
  means = means - means.sum() / (2.0 * static_cast<double>(n - 1));
  return (hollow - means.unsqueeze(0) - means.unsqueeze(1)) * off_diagonal;
}

// The cosine ⟨U(K), U(L)⟩ / (‖U(K)‖ ‖U(L)‖) of K = AAᵀ and L = BBᵀ, 0 unless `valid` and both
// norms are positive. Its backward is written by hand, as in linear CKA, so each Gram is formed
// once (syrk, gram()) and the gradient of a side costs one n×n×d matmul: with c the cosine,
//   ∂c/∂K = [U(U(L)) − (⟨U(K), U(L)⟩ / ‖U(K)‖²) U(U(K))] / (‖U(K)‖ ‖U(L)‖)
// (U is linear and self-adjoint on symmetric matrices) and ∂c/∂A = 2 (∂c/∂K) A, as ∂c/∂K is
// symmetric. Autograd differentiates the centring and scaling that produce A and B.
class UCentredCosine : public torch::autograd::Function<UCentredCosine> {
 public:
  static Tensor forward(AutogradContext* ctx, const Tensor& a, const Tensor& b,
                        const Tensor& valid) {
    torch::NoGradGuard hand_written_backward;  // lets gram() take the BLAS syrk route
    Tensor uk = u_centred(gram(a));
    Tensor ul = u_centred(gram(b));
    Tensor uk_sq = uk.square().sum();
    Tensor ul_sq = ul.square().sum();
    Tensor dot = (uk * ul).sum();
    Tensor ok = valid.logical_and(uk_sq > 0).logical_and(ul_sq > 0);
    Tensor one = torch::ones_like(uk_sq);
    Tensor norms = (torch::where(ok, uk_sq, one) * torch::where(ok, ul_sq, one)).sqrt();
    for (const auto& [key, value] :
         {std::pair{"uk", uk}, std::pair{"ul", ul}, std::pair{"uk_sq", uk_sq},
          std::pair{"ul_sq", ul_sq}, std::pair{"dot", dot}, std::pair{"ok", ok},
          std::pair{"norms", norms}}) {
      ctx->saved_data[key] = value;
    }
    if (a.requires_grad()) ctx->saved_data["a"] = a;
    if (b.requires_grad()) ctx->saved_data["b"] = b;
    return torch::where(ok, dot / norms, torch::zeros_like(dot));
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grad_outputs) {
    auto saved = [&](const char* key) { return ctx->saved_data[key].toTensor(); };
    Tensor ok = saved("ok");
    Tensor scale = torch::where(ok, 2.0 * grad_outputs[0] / saved("norms"),
                                torch::zeros_like(saved("norms")));
    Tensor dot = saved("dot");
    auto gradient = [&](const char* features, const char* own, const char* other,
                        const char* own_sq) {
      Tensor shrink = dot / torch::where(ok, saved(own_sq), torch::ones_like(dot));
      Tensor factor = (u_centred(saved(other)) - shrink * u_centred(saved(own))) * scale;
      return factor.mm(saved(features));
    };
    Tensor grad_a = ctx->needs_input_grad(0) ? gradient("a", "uk", "ul", "uk_sq") : Tensor();
    Tensor grad_b = ctx->needs_input_grad(1) ? gradient("b", "ul", "uk", "ul_sq") : Tensor();
    return {grad_a, grad_b, Tensor()};
  }
};

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
    return UCentredCosine::apply(fx.features, fy.features, fx.valid.logical_and(fy.valid))
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
