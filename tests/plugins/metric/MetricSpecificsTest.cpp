#include <cmath>

#include "tests/plugins/metric/MetricTestSupport.h"

namespace guidance::testing {
namespace {

using torch::Tensor;

double linear_cka_in_double(const Tensor& x, const Tensor& y) {
  Tensor k = centred_by_matrix(centred_by_matrix(x.mm(x.t())).t());
  Tensor l = centred_by_matrix(centred_by_matrix(y.mm(y.t())).t());
  return ((k * l).sum() / (k.norm() * l.norm())).item<double>();
}

class LinearCkaTest : public SeededTest {};

TEST_F(LinearCkaTest, MillionFeaturesInFloat32MatchDoublePrecision) {
  int64_t n = 16, d = 1000000;
  // Large activations with an offset: an unscaled float32 HSIC(K, K) · HSIC(L, L) would overflow.
  Tensor latent = torch::randn({n, 2});
  Tensor x = 1e3 * (latent.mm(torch::randn({2, d})) + torch::randn({n, d})) + 500.0;
  Tensor y = 1e3 * latent.mm(torch::randn({2, d})) + 1e3 * torch::randn({n, d});
  Tensor single = make_metric("linear-cka")->compute(x, y);
  ASSERT_EQ(single.scalar_type(), torch::kFloat);
  ASSERT_TRUE(std::isfinite(single.item<double>()));
  EXPECT_NEAR(single.item<double>(),
              linear_cka_in_double(x.to(torch::kDouble), y.to(torch::kDouble)), 1e-5);
}

TEST_F(LinearCkaTest, SelfSimilarityIsOneAndUnrelatedBatchesAreLow) {
  auto metric = make_metric("linear-cka");
  Tensor x = torch::randn({64, 20}, torch::kDouble);
  EXPECT_NEAR(metric->compute(x, x).item<double>(), 1.0, 1e-12);
  EXPECT_NEAR(metric->compute(x, 3.0 * x.mm(random_orthogonal(20)) + 2.0).item<double>(), 1.0,
              1e-12);
  EXPECT_LT(metric->compute(x, torch::randn({64, 20}, torch::kDouble)).item<double>(), 0.5);
}

TEST_F(LinearCkaTest, ConstantSideGivesZeroWithZeroGradient) {
  auto metric = make_metric("linear-cka");
  Tensor y = torch::randn({32, 6});
  for (double level : {0.0, 0.1, -7.0}) {
    for (int64_t d : {4, 500}) {
      Tensor x = torch::full({32, d}, level).requires_grad_(true);
      Tensor value = metric->compute(x, y);
      EXPECT_EQ(value.item<double>(), 0.0) << "level " << level << ", d " << d;
      EXPECT_EQ(metric->distance(x, y).item<double>(), 1.0);
      value.backward();
      EXPECT_EQ(x.grad().abs().max().item<double>(), 0.0) << "level " << level << ", d " << d;
    }
  }
}

// Linear and debiased CKA write their backward by hand; the second argument's gradient takes its
// own path there.
TEST_F(LinearCkaTest, GradientOfTheGuideSideMatchesFiniteDifferences) {
  for (const std::string name : {"linear-cka", "debiased-cka"}) {
    SCOPED_TRACE(name);
    auto metric = make_metric(name);
    for (auto [d1, d2] : {std::pair{5, 6}, std::pair{80, 50}}) {
      Tensor latent = torch::randn({24, 3}, torch::kDouble);
      // Swapping the arguments puts y first, where finite_difference_gap differentiates.
      Tensor x = structured(24, d1, latent);
      Tensor y = structured(24, d2, latent).requires_grad_(true);
      Tensor xg = x.clone().requires_grad_(true);
      metric->compute(xg, y).backward();
      Tensor swapped_grad = y.grad().clone();
      Tensor yg = y.detach().clone().requires_grad_(true);
      metric->compute(yg, x).backward();
      EXPECT_TRUE(tensors_close(swapped_grad, yg.grad(), 1e-9, 1e-12)) << d1 << " vs " << d2;
      EXPECT_LT(finite_difference_gap(*metric, y.detach(), x), 1e-6) << d1 << " vs " << d2;
    }
  }
}

TEST(DebiasedCkaTest, SmallBatchesOfUnrelatedDataAreNotBiasedUpward) {
  torch::manual_seed(7);
  auto linear = make_metric("linear-cka");
  auto debiased = make_metric("debiased-cka");
  double linear_mean = 0.0, debiased_mean = 0.0;
  int trials = 20;
  for (int t = 0; t < trials; ++t) {
    Tensor x = torch::randn({16, 64}, torch::kDouble);
    Tensor y = torch::randn({16, 64}, torch::kDouble);
    linear_mean += linear->compute(x, y).item<double>() / trials;
    debiased_mean += debiased->compute(x, y).item<double>() / trials;
  }
  EXPECT_GT(linear_mean, 0.3);
  EXPECT_LT(std::abs(debiased_mean), 0.05);
}

TEST(DebiasedCkaTest, WideSidesGiveTheSameValueWithOrWithoutALargeOffset) {
  // A wide side (d ≥ 8n) is U-centred from its uncentred Gram unless its offset dominates; then
  // it is centred first. U-centring ignores offsets, so both routes must agree, in float32 too.
  torch::manual_seed(11);
  auto metric = make_metric("debiased-cka");
  Tensor latent = torch::randn({16, 3}, torch::kDouble);
  Tensor x = structured(16, 400, latent);
  Tensor y = structured(16, 20, latent);
  double value = metric->compute(x, y).item<double>();
  EXPECT_GT(std::abs(value), 0.1);
  for (double offset : {3.0, 1000.0}) {
    Tensor shifted = x + offset;
    EXPECT_NEAR(metric->compute(shifted, y).item<double>(), value, 1e-9) << offset;
    EXPECT_NEAR(metric->compute(shifted.to(torch::kFloat), y.to(torch::kFloat)).item<double>(),
                value, 1e-5)
        << offset << " in float32";
  }
  // Wide and constant: 0 with a zero gradient, like every other constant side.
  Tensor constant = torch::full({16, 400}, 2.5).requires_grad_(true);
  Tensor zero = metric->compute(constant, y.to(torch::kFloat));
  EXPECT_EQ(zero.item<double>(), 0.0);
  zero.backward();
  EXPECT_EQ(constant.grad().abs().max().item<double>(), 0.0);
}

TEST(DebiasedCkaTest, RefusesFewerThanFourRows) {
  auto metric = make_metric("debiased-cka");
  EXPECT_THROW(metric->compute(torch::randn({3, 5}), torch::randn({3, 5})), c10::Error);
}

TEST(RsaTest, SpearmanIsAnalysisOnly) {
  auto pearson = make_metric("rsa");
  auto spearman = make_metric("rsa", {{"correlation", std::string("spearman")}});
  EXPECT_TRUE(pearson->traits().differentiable);
  EXPECT_FALSE(spearman->traits().differentiable);
  EXPECT_TRUE(built_plugins().metric("rsa")->traits().differentiable);
  Tensor x = torch::randn({10, 4}).requires_grad_(true);
  EXPECT_TRUE(pearson->compute(x, torch::randn({10, 3})).requires_grad());
  EXPECT_FALSE(spearman->compute(x, torch::randn({10, 3})).requires_grad());
}

TEST(MutualKnnTest, RefusesKNotBelowTheBatchSize) {
  auto metric = make_metric("mutual-knn", {{"k", int64_t{10}}});
  try {
    metric->compute(torch::randn({10, 3}), torch::randn({10, 3}));
    FAIL() << "k = n was accepted";
  } catch (const c10::Error& error) {
    EXPECT_NE(std::string(error.what()).find("k = 10"), std::string::npos) << error.what();
  }
}

TEST(CcaTest, InvariantToInvertibleLinearMaps) {
  torch::manual_seed(11);
  auto metric = make_metric("cca");
  Tensor latent = torch::randn({40, 3}, torch::kDouble);
  Tensor x = structured(40, 6, latent);
  Tensor y = structured(40, 5, latent);
  Tensor mixing = torch::randn({6, 6}, torch::kDouble) + 3.0 * torch::eye(6, torch::kDouble);
  EXPECT_NEAR(metric->compute(x.mm(mixing), y).item<double>(), metric->compute(x, y).item<double>(),
              1e-9);
}

}  // namespace
}  // namespace guidance::testing
