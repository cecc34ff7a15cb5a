#include <cmath>

#include "host/training/GuidanceLoss.h"
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
  EXPECT_EQ(made.min_rows, declared.min_rows);
  EXPECT_GE(declared.min_rows, 1);
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

// Padding must never reach the metric: the host's guidance term (GuidanceLoss) of sequence taps
// is the same whatever the padding positions hold, both token-wise and over whole sequences;
// without the mask the same garbage does change it, so this test would see a leak.
TEST_P(MetricContractTest, GuidanceOfSequenceTapsIgnoresPadding) {
  auto metric = make_metric(GetParam());
  // Fewer flattened features (time · d) than examples, so that CCA, invariant to any invertible
  // map when features reach n, still sees the padding when the mask is left out.
  const int64_t batch = 40, time = 5, d1 = 4, d2 = 3;
  // Lengths 1..time: every position keeps at least min_rows real tokens only early on, so the
  // token-wise path also exercises positions it must skip.
  torch::Tensor lengths = torch::randint(1, time + 1, {batch}, torch::kLong);
  lengths.index_put_({torch::indexing::Slice(0, metric->traits().min_rows + 2)}, time);
  torch::Tensor mask = torch::arange(time).unsqueeze(0) < lengths.unsqueeze(1);
  torch::Tensor latent = torch::randn({batch, time, 3}, torch::kDouble);
  torch::Tensor target = latent.matmul(torch::randn({3, d1}, torch::kDouble));
  torch::Tensor guide = latent.matmul(torch::randn({3, d2}, torch::kDouble)) +
                        0.3 * torch::randn({batch, time, d2}, torch::kDouble);
  auto with_padding = [&](const torch::Tensor& tap, double fill) {
    return torch::where(mask.unsqueeze(-1), tap, torch::full_like(tap, fill));
  };
  const std::vector<TapSpec> specs = {{"sequence", TapLayout::Sequence}};
  const std::vector<TapPair> pairs = {{0, 0, "sequence", "sequence"}};
  auto term = [&](double fill, const torch::Tensor& used_mask, bool tokenwise) {
    return guidance_terms(*metric, pairs, specs, specs, {with_padding(guide, -fill)},
                          {with_padding(target, fill)}, used_mask, {tokenwise, true})
        .total.item<double>();
  };
  for (bool tokenwise : {true, false}) {
    SCOPED_TRACE(tokenwise ? "token-wise" : "whole sequence");
    double clean = term(0.0, mask, tokenwise);
    EXPECT_TRUE(std::isfinite(clean));
    EXPECT_NEAR(term(1e3, mask, tokenwise), clean, 1e-9 * std::max(1.0, std::abs(clean)));
    EXPECT_GT(std::abs(term(1e3, torch::Tensor(), tokenwise) - clean), 1e-6)
        << "unmasked padding changed nothing, so this test could not see a leak";
  }
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
                         ::testing::ValuesIn(built_plugins().names(PluginKind::Metric)),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name) c = c == '-' ? '_' : c;
                           return name;
                         });

}  // namespace
}  // namespace guidance::testing
