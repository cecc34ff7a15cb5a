#pragma once

#include <map>
#include <memory>
#include <string>

#include <torch/torch.h>

#include "guidance/api/Metric.h"
#include "guidance/api/Params.h"
#include "tests/support/TestSupport.h"

namespace guidance::testing {

/// @return a metric made by the built plugin `name` from its defaults with `overrides` applied.
inline std::shared_ptr<Metric> make_metric(const std::string& name,
                                           const std::map<std::string, ParamValue>& overrides = {}) {
  auto plugin = built_plugins().metric(name);
  Params params = defaults_of(plugin->info().params);
  for (const auto& [key, value] : overrides) params.set(key, value);
  return plugin->create(params);
}

/// @return a random [n, d] double matrix with a low-rank shared part, an offset and noise, so
/// metrics see structure rather than pure noise.
inline torch::Tensor structured(int64_t n, int64_t d, const torch::Tensor& latent) {
  torch::Tensor mixing = torch::randn({latent.size(1), d}, torch::kDouble);
  return latent.mm(mixing) + 0.5 * torch::randn({n, d}, torch::kDouble) +
         torch::randn({1, d}, torch::kDouble);
}

/// @return a random orthogonal [d, d] double matrix.
inline torch::Tensor random_orthogonal(int64_t d) {
  return std::get<0>(torch::linalg_qr(torch::randn({d, d}, torch::kDouble)));
}

/// @return the rows of x centred by the explicit centring matrix H = I − 11ᵀ/n (test-side only).
inline torch::Tensor centred_by_matrix(const torch::Tensor& x) {
  int64_t n = x.size(0);
  torch::Tensor h = torch::eye(n, torch::kDouble) - torch::full({n, n}, 1.0 / n, torch::kDouble);
  return h.mm(x.to(torch::kDouble));
}

/// @return the relative gap between the analytic directional derivative of the metric's value at
/// x along a random direction and its central finite difference, in double precision.
inline double finite_difference_gap(const Metric& metric, const torch::Tensor& x,
                                    const torch::Tensor& y) {
  torch::Tensor point = x.to(torch::kDouble).clone().requires_grad_(true);
  torch::Tensor yd = y.to(torch::kDouble);
  metric.compute(point, yd).backward();
  torch::Tensor direction = torch::randn_like(point);
  double analytic = (point.grad() * direction).sum().item<double>();
  double step = 1e-6 * point.detach().norm().item<double>() / direction.norm().item<double>();
  torch::NoGradGuard no_grad;
  double plus = metric.compute(point.detach() + step * direction, yd).item<double>();
  double minus = metric.compute(point.detach() - step * direction, yd).item<double>();
  double numeric = (plus - minus) / (2.0 * step);
  return std::abs(analytic - numeric) / std::max(1e-3, std::abs(numeric));
}

}  // namespace guidance::testing
