#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

#include "tests/plugins/metric/MetricTestSupport.h"

namespace guidance::testing {
namespace {

using torch::Tensor;

// Straightforward double-precision formulas, written independently of the plugins: explicit
// centring matrices, the Song et al. estimator term by term, loops where the plugins vectorise.

double cosine_of(const Tensor& a, const Tensor& b) {
  return ((a * b).sum() / (a.norm() * b.norm())).item<double>();
}

double centred_kernel_alignment(const Tensor& k, const Tensor& l) {
  Tensor h = centred_by_matrix(torch::eye(k.size(0), torch::kDouble));
  return cosine_of(h.mm(k).mm(h), h.mm(l).mm(h));
}

double reference_linear_cka(const Tensor& x, const Tensor& y) {
  return centred_kernel_alignment(x.mm(x.t()), y.mm(y.t()));
}

double unbiased_hsic(const Tensor& k, const Tensor& l) {
  double n = static_cast<double>(k.size(0));
  Tensor kt = k - torch::diag(torch::diag(k));
  Tensor lt = l - torch::diag(torch::diag(l));
  Tensor ones = torch::ones({k.size(0), 1}, torch::kDouble);
  double trace = kt.mm(lt).trace().item<double>();
  double sums = (ones.t().mm(kt).mm(ones) * ones.t().mm(lt).mm(ones)).item<double>();
  double cross = ones.t().mm(kt).mm(lt).mm(ones).item<double>();
  return (trace + sums / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * cross) / (n * (n - 3));
}

double reference_debiased_cka(const Tensor& x, const Tensor& y) {
  Tensor k = x.mm(x.t());
  Tensor l = y.mm(y.t());
  return unbiased_hsic(k, l) / std::sqrt(unbiased_hsic(k, k) * unbiased_hsic(l, l));
}

Tensor rbf_kernel(const Tensor& x, double bandwidth) {
  int64_t n = x.size(0);
  Tensor sq = torch::zeros({n, n}, torch::kDouble);
  std::vector<double> positive;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double value = (x[i] - x[j]).square().sum().item<double>();
      sq[i][j] = value;
      if (i < j && value > 0) positive.push_back(value);
    }
  }
  std::sort(positive.begin(), positive.end());
  double median = positive[(positive.size() - 1) / 2];
  return torch::exp(-sq / (2.0 * bandwidth * bandwidth * median));
}

Tensor cosine_triangle(const Tensor& x) {
  Tensor unit = x / x.norm(2, 1, true);
  Tensor s = unit.mm(unit.t());
  std::vector<double> entries;
  for (int64_t i = 0; i < s.size(0); ++i) {
    for (int64_t j = i + 1; j < s.size(0); ++j) entries.push_back(s[i][j].item<double>());
  }
  return torch::tensor(entries, torch::kDouble);
}

double pearson(const Tensor& u, const Tensor& v) { return cosine_of(u - u.mean(), v - v.mean()); }

Tensor ranks_by_counting(const Tensor& v) {
  Tensor ranks = torch::empty_like(v);
  for (int64_t i = 0; i < v.numel(); ++i) {
    double below = (v < v[i]).sum().item<double>();
    double tied = (v == v[i]).sum().item<double>();
    ranks[i] = 1.0 + below + (tied - 1.0) / 2.0;
  }
  return ranks;
}

double reference_procrustes(const Tensor& x, const Tensor& y) {
  Tensor xc = centred_by_matrix(x);
  Tensor yc = centred_by_matrix(y);
  Tensor nuclear = torch::linalg_svdvals(xc.t().mm(yc)).sum() / (xc.norm() * yc.norm());
  return 2.0 - 2.0 * nuclear.item<double>();
}

// Canonical correlations from QR bases (the plugin uses SVD bases), optionally after keeping the
// top principal components found by an eigendecomposition of the covariance.
Tensor qr_basis(const Tensor& x, double share) {
  Tensor xc = centred_by_matrix(x);
  if (share < 1.0) {
    auto [values, vectors] = torch::linalg_eigh(xc.t().mm(xc));
    values = values.flip(0);
    vectors = vectors.flip(1);
    Tensor explained = values.cumsum(0) / values.sum();
    int64_t keep = (explained < share).sum().item<int64_t>() + 1;
    xc = xc.mm(vectors.narrow(1, 0, keep));
  }
  return std::get<0>(torch::linalg_qr(xc));
}

double reference_cca(const Tensor& x, const Tensor& y, double share, bool pwcca) {
  Tensor qx = qr_basis(x, share);
  Tensor qy = qr_basis(y, share);
  auto [u, rho, vh] = torch::linalg_svd(qx.t().mm(qy), false);
  if (!pwcca) return rho.mean().item<double>();
  Tensor variates = qx.mm(u.narrow(1, 0, rho.size(0)));
  Tensor weights = variates.t().mm(centred_by_matrix(x)).abs().sum(1);
  return ((weights * rho).sum() / weights.sum()).item<double>();
}

double reference_mutual_knn(const Tensor& x, const Tensor& y, int64_t k) {
  auto neighbours = [k](const Tensor& a, int64_t i) {
    Tensor unit = a / a.norm(2, 1, true);
    std::vector<std::pair<double, int64_t>> scored;
    for (int64_t j = 0; j < a.size(0); ++j) {
      if (j != i) scored.push_back({-(unit[i] * unit[j]).sum().item<double>(), j});
    }
    std::sort(scored.begin(), scored.end());
    std::vector<int64_t> nearest;
    for (int64_t r = 0; r < k; ++r) nearest.push_back(scored[r].second);
    std::sort(nearest.begin(), nearest.end());
    return nearest;
  };
  double shared = 0.0;
  for (int64_t i = 0; i < x.size(0); ++i) {
    std::vector<int64_t> a = neighbours(x, i), b = neighbours(y, i), both;
    std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(both));
    shared += static_cast<double>(both.size());
  }
  return shared / static_cast<double>(x.size(0) * k);
}

struct ReferenceCase {
  std::string name;
  std::map<std::string, ParamValue> params;
  std::function<double(const Tensor&, const Tensor&)> reference;
  std::vector<std::tuple<int64_t, int64_t, int64_t>> shapes;  // n, d1, d2
};

// The last two are wide (d ≥ 8n) on one and on both sides, where linear and debiased CKA work
// from the uncentred Gram.
const std::vector<std::tuple<int64_t, int64_t, int64_t>> kAnyShapes = {
    {10, 4, 6}, {32, 16, 16}, {40, 300, 20}, {24, 100, 150}, {12, 200, 30}, {10, 90, 120}};
const std::vector<std::tuple<int64_t, int64_t, int64_t>> kTallShapes = {
    {20, 4, 6}, {48, 16, 10}, {64, 30, 12}};

std::vector<ReferenceCase> reference_cases() {
  return {
      {"linear-cka", {}, reference_linear_cka, kAnyShapes},
      {"debiased-cka", {}, reference_debiased_cka, kAnyShapes},
      {"rbf-cka", {}, [](auto& x, auto& y) {
         return centred_kernel_alignment(rbf_kernel(x, 1.0), rbf_kernel(y, 1.0));
       }, kAnyShapes},
      {"rbf-cka", {{"bandwidth", 0.3}}, [](auto& x, auto& y) {
         return centred_kernel_alignment(rbf_kernel(x, 0.3), rbf_kernel(y, 0.3));
       }, kAnyShapes},
      {"rsa", {}, [](auto& x, auto& y) {
         return pearson(cosine_triangle(x), cosine_triangle(y));
       }, kAnyShapes},
      {"rsa", {{"correlation", std::string("spearman")}}, [](auto& x, auto& y) {
         return pearson(ranks_by_counting(cosine_triangle(x)),
                        ranks_by_counting(cosine_triangle(y)));
       }, {{12, 5, 7}, {20, 40, 8}}},
      {"procrustes", {}, reference_procrustes, kAnyShapes},
      {"cca", {}, [](auto& x, auto& y) { return reference_cca(x, y, 1.0, false); }, kTallShapes},
      {"cca", {{"svcca_variance", 0.9}}, [](auto& x, auto& y) {
         return reference_cca(x, y, 0.9, false);
       }, kTallShapes},
      {"cca", {{"weighting", std::string("pwcca")}}, [](auto& x, auto& y) {
         return reference_cca(x, y, 1.0, true);
       }, kTallShapes},
      {"mutual-knn", {{"k", int64_t{3}}}, [](auto& x, auto& y) {
         return reference_mutual_knn(x, y, 3);
       }, {{12, 5, 7}, {30, 40, 8}}},
  };
}

class MetricReferenceTest : public SeededTest {};

TEST_F(MetricReferenceTest, EveryMetricAgreesWithItsDoublePrecisionFormula) {
  for (const ReferenceCase& c : reference_cases()) {
    auto metric = make_metric(c.name, c.params);
    for (auto [n, d1, d2] : c.shapes) {
      Tensor latent = torch::randn({n, 3}, torch::kDouble);
      Tensor x = structured(n, d1, latent);
      Tensor y = structured(n, d2, latent);
      double expected = c.reference(x, y);
      std::string label = c.name + " " + std::to_string(n) + "x" + std::to_string(d1) + " vs " +
                          std::to_string(d2) + (c.params.empty() ? "" : " (options)");
      EXPECT_NEAR(metric->compute(x, y).item<double>(), expected, 1e-5) << label;
      // Nothing in this comparison is a coincidence of a trivial value.
      EXPECT_GT(std::abs(expected), 1e-3) << label;
      if (c.name != "mutual-knn") {
        EXPECT_NEAR(metric->compute(x.to(torch::kFloat), y.to(torch::kFloat)).item<double>(),
                    expected, 1e-5)
            << label << " in float32";
      }
    }
  }
}

class InvarianceTest : public SeededTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(InvarianceTest, UnchangedUnderOrthogonalMapsAndIsotropicScaling) {
  auto metric = make_metric(GetParam());
  Tensor latent = torch::randn({30, 3}, torch::kDouble);
  Tensor x = structured(30, 12, latent);
  Tensor y = structured(30, 8, latent);
  double value = metric->compute(x, y).item<double>();
  EXPECT_NEAR(metric->compute(x.mm(random_orthogonal(12)), y).item<double>(), value, 1e-9);
  EXPECT_NEAR(metric->compute(x, y.mm(random_orthogonal(8))).item<double>(), value, 1e-9);
  EXPECT_NEAR(metric->compute(37.5 * x, y).item<double>(), value, 1e-9);
  EXPECT_NEAR(metric->compute(x, 0.01 * y).item<double>(), value, 1e-9);
  Tensor unrelated = torch::randn({30, 8}, torch::kDouble);
  EXPECT_GT(std::abs(metric->compute(x, unrelated).item<double>() - value), 1e-3)
      << "the metric does not depend on y, so invariances mean nothing";
}

INSTANTIATE_TEST_SUITE_P(AllMetrics, InvarianceTest,
                         ::testing::Values("linear-cka", "debiased-cka", "rbf-cka", "rsa",
                                           "procrustes", "cca", "mutual-knn"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name) c = c == '-' ? '_' : c;
                           return name;
                         });

}  // namespace
}  // namespace guidance::testing
