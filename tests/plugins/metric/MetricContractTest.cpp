#include <cmath>

#include "tests/plugins/metric/MetricTestSupport.h"

namespace guidance::testing {
namespace {

// Properties every metric plugin promises, checked on each of them through the built plugins.
class MetricContractTest : public SeededTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(MetricContractTest, DescribesItselfForTheCli) {
  auto plugin = built_plugins().metric(GetParam());
  PluginInfo info = plugin->info();
  EXPECT_EQ(info.name, GetParam());
  EXPECT_EQ(info.version, "1.0.0");
  EXPECT_FALSE(info.summary.empty());
  for (const auto& spec : info.params) EXPECT_FALSE(spec.doc.empty()) << spec.name;
  MetricTraits traits = plugin->traits();
  EXPECT_FALSE(traits.formula.empty());
  EXPECT_EQ(traits.formula.find('\n'), std::string::npos) << "formula must be one line";
  EXPECT_FALSE(traits.cost.empty());
  EXPECT_LT(traits.lower, traits.upper);
}

TEST_P(MetricContractTest, DefaultMetricHasThePluginsTraits) {
  auto plugin = built_plugins().metric(GetParam());
  MetricTraits declared = plugin->traits();
  MetricTraits made = make_metric(GetParam())->traits();
  EXPECT_EQ(made.differentiable, declared.differentiable);
  EXPECT_EQ(made.sense, declared.sense);
  EXPECT_EQ(made.lower, declared.lower);
  EXPECT_EQ(made.upper, declared.upper);
  EXPECT_EQ(made.formula, declared.formula);
}

TEST_P(MetricContractTest, StaysWithinItsRangeAndIsSymmetric) {
  auto metric = make_metric(GetParam());
  const MetricTraits& traits = metric->traits();
  for (auto [n, d1, d2] : {std::tuple{12, 5, 7}, std::tuple{40, 64, 3}, std::tuple{30, 90, 120}}) {
    torch::Tensor latent = torch::randn({n, 3}, torch::kDouble);
    torch::Tensor x = structured(n, d1, latent);
    torch::Tensor y = structured(n, d2, latent);
    double value = metric->compute(x, y).item<double>();
    EXPECT_GE(value, traits.lower) << n << "x" << d1 << " vs " << d2;
    EXPECT_LE(value, traits.upper) << n << "x" << d1 << " vs " << d2;
    EXPECT_NEAR(metric->compute(y, x).item<double>(), value, 1e-9) << n << "x" << d1;
    double distance = metric->distance(x, y).item<double>();
    EXPECT_GE(distance, 0.0);
    EXPECT_NEAR(distance,
                traits.sense == MetricSense::Distance ? value : traits.upper - value, 1e-12);
  }
}

TEST_P(MetricContractTest, IdenticalRepresentationsAreAtDistanceZero) {
  auto metric = make_metric(GetParam());
  torch::Tensor x = structured(24, 10, torch::randn({24, 4}, torch::kDouble));
  EXPECT_NEAR(metric->distance(x, x).item<double>(), 0.0, 1e-6);
}

TEST_P(MetricContractTest, Float32AgreesWithFloat64) {
  auto metric = make_metric(GetParam());
  torch::Tensor latent = torch::randn({32, 4}, torch::kDouble);
  torch::Tensor x = structured(32, 20, latent);
  torch::Tensor y = structured(32, 300, latent);
  torch::Tensor single = metric->compute(x.to(torch::kFloat), y.to(torch::kFloat));
  torch::Tensor precise = metric->compute(x, y);
  EXPECT_EQ(single.scalar_type(), torch::kFloat);
  EXPECT_EQ(precise.scalar_type(), torch::kDouble);
  EXPECT_NEAR(single.item<double>(), precise.item<double>(), 1e-5);
}

TEST_P(MetricContractTest, MaskedSequenceRowsDoNotLeakPadding) {
  auto metric = make_metric(GetParam());
  // Sequence taps [batch, time, d] with a validity mask; the host keeps the valid rows only.
  int64_t batch = 4, time = 9, d1 = 6, d2 = 5;
  torch::Tensor mask = torch::rand({batch, time}) < 0.7;
  mask.index_put_({torch::indexing::Slice(), 0}, true);
  int64_t valid_rows = mask.sum().item<int64_t>();
  torch::Tensor latent = torch::randn({valid_rows, 3}, torch::kDouble);
  torch::Tensor rows_x = structured(valid_rows, d1, latent);
  torch::Tensor rows_y = structured(valid_rows, d2, latent);
  auto padded = [&](const torch::Tensor& rows, double fill) {
    torch::Tensor sequence = torch::full({batch, time, rows.size(1)}, fill, torch::kDouble);
    sequence.index_put_({mask}, rows);
    return sequence;
  };
  torch::Tensor expected = metric->compute(rows_x, rows_y);
  for (double fill : {0.0, 1e3}) {
    torch::Tensor x = padded(rows_x, fill).index({mask});
    torch::Tensor y = padded(rows_y, -fill).index({mask});
    EXPECT_TRUE(tensors_close(metric->compute(x, y), expected, 1e-12, 1e-12)) << "fill " << fill;
  }
  torch::Tensor unmasked = metric->compute(padded(rows_x, 1e3).reshape({batch * time, d1}),
                                           padded(rows_y, -1e3).reshape({batch * time, d2}));
  EXPECT_GT(std::abs(unmasked.item<double>() - expected.item<double>()), 1e-6)
      << "padding rows changed nothing, so this test could not see a leak";
}

TEST_P(MetricContractTest, ConstantActivationsGiveFiniteValuesAndGradients) {
  auto metric = make_metric(GetParam());
  torch::Tensor y = torch::randn({16, 8}, torch::kDouble);
  for (double level : {0.0, 0.1, 3.0}) {
    for (auto type : {torch::kFloat, torch::kDouble}) {
      torch::Tensor x = torch::full({16, 12}, level, type).requires_grad_(true);
      torch::Tensor value = metric->compute(x, y.to(type));
      EXPECT_TRUE(std::isfinite(value.item<double>())) << "level " << level;
      if (metric->traits().differentiable) {
        value.backward();
        EXPECT_TRUE(torch::isfinite(x.grad()).all().item<bool>()) << "level " << level;
      }
    }
  }
}

TEST_P(MetricContractTest, GradientsMatchFiniteDifferencesWhenDifferentiable) {
  auto metric = make_metric(GetParam());
  torch::Tensor x = torch::randn({20, 7}, torch::kDouble);
  torch::Tensor y = x.mm(torch::randn({7, 9}, torch::kDouble)) + torch::randn({20, 9}, torch::kDouble);
  if (!metric->traits().differentiable) {
    EXPECT_FALSE(metric->compute(x.requires_grad_(true), y).requires_grad());
    return;
  }
  for (auto [n, d1, d2] : {std::tuple{20, 7, 9}, std::tuple{10, 40, 30}, std::tuple{8, 100, 70}}) {
    torch::Tensor latent = torch::randn({n, 3}, torch::kDouble);
    EXPECT_LT(finite_difference_gap(*metric, structured(n, d1, latent), structured(n, d2, latent)),
              1e-6)
        << n << "x" << d1 << " vs " << d2;
  }
}

TEST_P(MetricContractTest, RejectsMismatchedRowsNamingTheMetric) {
  auto metric = make_metric(GetParam());
  try {
    metric->compute(torch::randn({10, 3}), torch::randn({11, 3}));
    FAIL() << "mismatched row counts were accepted";
  } catch (const c10::Error& error) {
    std::string message = error.what();
    EXPECT_NE(message.find(GetParam()), std::string::npos) << message;
    EXPECT_NE(message.find("10"), std::string::npos) << message;
    EXPECT_NE(message.find("11"), std::string::npos) << message;
  }
}

INSTANTIATE_TEST_SUITE_P(AllMetrics, MetricContractTest,
                         ::testing::Values("linear-cka", "debiased-cka", "rbf-cka", "rsa",
                                           "procrustes", "cca", "mutual-knn"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name) c = c == '-' ? '_' : c;
                           return name;
                         });

}  // namespace
}  // namespace guidance::testing
