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
// estimator of Song et al. (2012), so CKA built on it is not biased upward at small n.
//
// U-centring ignores centring and scaling of the features, rounding does not. A wide side with a
// small offset (wide_uncentred_gram(), as in linear CKA) is U-centred straight from its uncentred
// Gram, formed in float32 and U-centred in float64: no O(nd) passes over the features. Every
// other side (narrow, large offset, constant, non-finite Gram) is centred and scaled to unit
// norm first.
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
  /// @param gram_a AAᵀ (float64) when already formed, else empty (likewise gram_b)
  static Tensor forward(AutogradContext* ctx, const Tensor& a, const Tensor& b,
                        const Tensor& gram_a, const Tensor& gram_b, const Tensor& valid) {
    torch::NoGradGuard hand_written_backward;  // lets gram() take the BLAS syrk route
    Tensor uk = u_centred(gram_a.numel() > 0 ? gram_a : gram(a));
    Tensor ul = u_centred(gram_b.numel() > 0 ? gram_b : gram(b));
    if (uk.scalar_type() != ul.scalar_type()) {  // one side wide (float64), one not
      uk = uk.to(torch::kDouble);
      ul = ul.to(torch::kDouble);
    }
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
    return torch::where(ok, dot / norms, torch::zeros_like(dot)).to(a.scalar_type());
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grad_outputs) {
    auto saved = [&](const char* key) { return ctx->saved_data[key].toTensor(); };
    Tensor ok = saved("ok");
    Tensor scale = torch::where(ok, 2.0 * grad_outputs[0].to(saved("norms").scalar_type()) /
                                        saved("norms"),
                                torch::zeros_like(saved("norms")));
    Tensor dot = saved("dot");
    auto gradient = [&](const char* features, const char* own, const char* other,
                        const char* own_sq) {
      Tensor shrink = dot / torch::where(ok, saved(own_sq), torch::ones_like(dot));
      Tensor factor = (u_centred(saved(other)) - shrink * u_centred(saved(own))) * scale;
      Tensor multiplied = saved(features);
      return factor.to(multiplied.scalar_type()).mm(multiplied);
    };
    Tensor grad_a = ctx->needs_input_grad(0) ? gradient("a", "uk", "ul", "uk_sq") : Tensor();
    Tensor grad_b = ctx->needs_input_grad(1) ? gradient("b", "ul", "uk", "ul_sq") : Tensor();
    return {grad_a, grad_b, Tensor(), Tensor(), Tensor()};
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
  traits.min_rows = 4;
  return traits;
}

/// One side as UCentredCosine takes it.
struct Side {
  Tensor features;  ///< X itself (wide route) or its centred, unit-norm copy
  Tensor gram;      ///< XXᵀ in float64 when the wide route formed it, else empty
  Tensor valid;     ///< false when the side is constant
};

Side prepare(const Tensor& x) {
  Tensor uncentred = wide_uncentred_gram(x);
  if (uncentred.defined()) return {x, uncentred, torch::ones({}, x.options().dtype(torch::kBool))};
  NormalisedFeatures normalised = normalised_features(x);
  // Function::apply takes no undefined tensors: an empty one stands for "not formed".
  return {normalised.features, torch::empty({0}, x.options().dtype(torch::kDouble)),
          normalised.valid};
}

class DebiasedCka final : public Metric {
 public:
  Tensor compute(const Tensor& x, const Tensor& y) const override {
    auto [xs, ys] = checked_pair(x, y, kName, traits_.min_rows);
    Side sx = prepare(xs);
    Side sy = prepare(ys);
    return UCentredCosine::apply(sx.features, sy.features, sx.gram, sy.gram,
                                 sx.valid.logical_and(sy.valid))
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
