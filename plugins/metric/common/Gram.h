#pragma once

#include <climits>
#include <cmath>

#include <ATen/record_function.h>
#include <cblas.h>
#include <torch/torch.h>

namespace guidance::metrics {

/// Which symmetric product of a matrix x to form.
enum class GramOf {
  Rows,     ///< x xᵀ: [n, n], the inner products of the rows
  Columns,  ///< xᵀ x: [d, d], the inner products of the columns
};

/// @return x xᵀ or xᵀ x (see GramOf) for a [n, d] matrix.
///
/// A Gram matrix is symmetric, so BLAS syrk computes only its upper triangle: half the
/// multiply-adds of the general matmul, which then costs about 0.55–0.7× of it here (OpenBLAS,
/// n = 256). The triangle is mirrored on the result. syrk is used on the CPU for contiguous
/// float32 and float64 inputs whose product autograd does not need to see (a metric's own
/// backward, a side without gradient, or no-grad code); everything else (CUDA, other dtypes,
/// views, differentiable use) takes a plain matmul.
inline torch::Tensor gram(const torch::Tensor& x, GramOf of = GramOf::Rows) {
  TORCH_CHECK(x.dim() == 2, "gram: expected a matrix, got ", x.sizes());
  bool rows = of == GramOf::Rows;
  bool blas_friendly = x.device().is_cpu() && x.is_contiguous() &&
                       (x.scalar_type() == torch::kFloat || x.scalar_type() == torch::kDouble) &&
                       !(x.requires_grad() && torch::GradMode::is_enabled()) &&
                       x.size(0) <= INT_MAX && x.size(1) <= INT_MAX && x.numel() > 0;
  if (!blas_friendly) return rows ? x.mm(x.t()) : x.t().mm(x);
  auto n = static_cast<int>(x.size(0));
  auto d = static_cast<int>(x.size(1));
  int order = rows ? n : d;
  int depth = rows ? d : n;
  CBLAS_TRANSPOSE transpose = rows ? CblasNoTrans : CblasTrans;
  torch::Tensor product = torch::empty({order, order}, x.options());
  // Named for profilers and `guidance bench`'s operation count, which cannot see into BLAS calls.
  RECORD_FUNCTION("guidance::syrk", std::vector<c10::IValue>({x, product}));
  if (x.scalar_type() == torch::kFloat) {
    cblas_ssyrk(CblasRowMajor, CblasUpper, transpose, order, depth, 1.0f, x.data_ptr<float>(), d,
                0.0f, product.data_ptr<float>(), order);
  } else {
    cblas_dsyrk(CblasRowMajor, CblasUpper, transpose, order, depth, 1.0, x.data_ptr<double>(), d,
                0.0, product.data_ptr<double>(), order);
  }
  // syrk leaves the strict lower triangle untouched (uninitialised): mirror the upper one.
  torch::Tensor upper = product.triu();
  return upper + upper.triu(1).t();
}

/// A side is "wide" when d ≥ kWideFactor · n: then forming its uncentred Gram and centring the
/// n×n matrix in float64 costs less than centring the [n, d] features first.
inline constexpr int64_t kWideFactor = 8;
/// Largest ‖X‖²_F / ‖X̄‖²_F (X̄ the row-centred X) for which the uncentred Gram keeps enough bits
/// for the centred one: the offset costs at most log2(kOffsetLimit) bits.
inline constexpr double kOffsetLimit = 4.0;

/// @return XXᵀ in float64, formed from the uncentred X (syrk, no gradient recorded), when x is
/// wide and its offset is small (see kOffsetLimit); otherwise an undefined tensor, and the caller
/// centres the features first. A constant, all-zero or non-finite side always gets undefined.
inline torch::Tensor wide_uncentred_gram(const torch::Tensor& x) {
  int64_t n = x.size(0);
  if (x.size(1) < kWideFactor * n) return {};
  torch::Tensor uncentred;
  {
    torch::NoGradGuard no_grad;  // callers differentiate through their own backward
    uncentred = gram(x.detach()).to(torch::kDouble);
  }
  double total = uncentred.trace().item<double>();
  // trace(HKH) = trace(K) − 1ᵀK1 / n: the centred side's ‖X̄‖²_F.
  double centred = total - uncentred.sum().item<double>() / static_cast<double>(n);
  if (std::isfinite(total) && centred > 0.0 && centred * kOffsetLimit >= total) return uncentred;
  return {};
}

}  // namespace guidance::metrics
