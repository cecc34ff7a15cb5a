#pragma once

#include <limits>
#include <string>
#include <utility>

#include <torch/torch.h>

namespace guidance::metrics {

/// A side whose centred activations have squared Frobenius norm at most
/// (kConstantTolerance · ε)² · ‖X‖²_F (ε the dtype's machine epsilon) counts as constant: what is
/// left after centring is rounding noise, not variation. Every metric gives such a side a
/// documented, finite value instead of 0/0.
inline constexpr double kConstantTolerance = 64.0;

/// @return the machine epsilon of a floating dtype (float32 or float64).
inline double epsilon_of(torch::ScalarType type) {
  return type == torch::kDouble ? std::numeric_limits<double>::epsilon()
                                : std::numeric_limits<float>::epsilon();
}

/// Checks the arguments of Metric::compute and brings both to one floating dtype of at least
/// float32 (half precision is computed in float32).
/// @param metric the metric's name, used in error messages
/// @param min_rows the fewest examples the metric is defined for
/// @return x and y as [n, d1] and [n, d2] tensors of the promoted dtype
/// @throws c10::Error naming the metric and the offending shape, dtype or device
inline std::pair<torch::Tensor, torch::Tensor> checked_pair(const torch::Tensor& x,
                                                            const torch::Tensor& y,
                                                            const std::string& metric,
                                                            int64_t min_rows) {
  TORCH_CHECK(x.defined() && y.defined(), metric, ": both activation tensors must be defined");
  TORCH_CHECK(x.dim() == 2 && y.dim() == 2, metric,
              ": activations must be matrices [n, d], got x ", x.sizes(), " and y ", y.sizes());
  TORCH_CHECK(x.size(0) == y.size(0), metric, ": x and y must have the same number of rows n, got ",
              x.size(0), " and ", y.size(0));
  TORCH_CHECK(x.size(0) >= min_rows, metric, " needs at least ", min_rows, " rows, got n = ",
              x.size(0));
  TORCH_CHECK(x.size(1) >= 1 && y.size(1) >= 1, metric,
              ": activations need at least one feature, got x ", x.sizes(), " and y ", y.sizes());
  TORCH_CHECK(x.is_floating_point() && y.is_floating_point(), metric,
              ": activations must be floating point, got ", x.scalar_type(), " and ",
              y.scalar_type());
  TORCH_CHECK(x.device() == y.device(), metric, ": x is on ", x.device(), " but y is on ",
              y.device());
  torch::ScalarType type = torch::promote_types(
      torch::promote_types(x.scalar_type(), y.scalar_type()), torch::kFloat);
  return {x.to(type), y.to(type)};
}

/// @param centred_sq_norm ‖X − 1μᵀ‖²_F, a scalar tensor
/// @param mean μ, the row mean of X (any shape)
/// @param rows n, the number of rows of X
/// @return a boolean scalar tensor: true when X varies beyond rounding noise (see
/// kConstantTolerance). Uses ‖X‖²_F = ‖X − 1μᵀ‖²_F + n‖μ‖², so X itself is not read again.
inline torch::Tensor has_spread(const torch::Tensor& centred_sq_norm, const torch::Tensor& mean,
                                int64_t rows) {
  double tolerance = kConstantTolerance * epsilon_of(centred_sq_norm.scalar_type());
  torch::Tensor total = centred_sq_norm + static_cast<double>(rows) * mean.square().sum();
  return centred_sq_norm > (tolerance * tolerance) * total;
}

/// A representation centred over its rows and scaled to unit Frobenius norm.
struct NormalisedFeatures {
  torch::Tensor features;  ///< (X − 1μᵀ) / ‖X − 1μᵀ‖_F, or all zeros when X is constant
  torch::Tensor valid;     ///< boolean scalar: false when X is constant (see has_spread)
};

/// Centres the rows of x and scales the result to unit Frobenius norm. A constant x becomes all
/// zeros with a zero gradient, so metrics built on it see "no structure" rather than 0/0.
inline NormalisedFeatures normalised_features(const torch::Tensor& x) {
  torch::Tensor mean = x.mean(0, true);
  torch::Tensor centred = x - mean;
  torch::Tensor sq_norm = centred.square().sum();
  torch::Tensor valid = has_spread(sq_norm, mean, x.size(0));
  torch::Tensor safe_sq_norm = torch::where(valid, sq_norm, torch::ones_like(sq_norm));
  torch::Tensor scale = torch::where(valid, safe_sq_norm.rsqrt(), torch::zeros_like(sq_norm));
  return {centred * scale, valid};
}

/// @return ⟨a, b⟩ / (‖a‖ ‖b‖) over all elements where `valid` holds and both norms are positive,
/// else 0; gradients stay finite in both cases.
inline torch::Tensor guarded_cosine(const torch::Tensor& a, const torch::Tensor& b,
                                    const torch::Tensor& valid) {
  torch::Tensor norm_a = a.square().sum();
  torch::Tensor norm_b = b.square().sum();
  torch::Tensor ok = valid.logical_and(norm_a > 0).logical_and(norm_b > 0);
  torch::Tensor one = torch::ones_like(norm_a);
  torch::Tensor denominator =
      (torch::where(ok, norm_a, one) * torch::where(ok, norm_b, one)).sqrt();
  return torch::where(ok, (a * b).sum() / denominator, torch::zeros_like(norm_a));
}

/// @return the entries m[i, j] with i < j of a square matrix, row by row.
inline torch::Tensor upper_triangle(const torch::Tensor& m) {
  torch::Tensor index = torch::triu_indices(m.size(0), m.size(1), 1, torch::TensorOptions()
                                                                         .dtype(torch::kLong)
                                                                         .device(m.device()));
  return m.index({index[0], index[1]});
}

/// @return rows of x scaled to unit Euclidean norm (all-zero rows stay zero).
inline torch::Tensor unit_rows(const torch::Tensor& x) {
  return torch::nn::functional::normalize(
      x, torch::nn::functional::NormalizeFuncOptions().p(2).dim(1));
}

}  // namespace guidance::metrics
