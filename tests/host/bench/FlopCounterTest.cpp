#include "host/bench/FlopCounter.h"

#include <torch/torch.h>

#include "tests/support/TestSupport.h"

namespace guidance {
namespace {

TEST(FlopCounter, CountsMatrixProductsFromTheirShapes) {
  torch::Tensor a = torch::randn({3, 4}), b = torch::randn({4, 5});
  FlopCounter counter;
  a.mm(b);
  EXPECT_EQ(counter.flops(), 2.0 * 3 * 4 * 5);
  torch::addmm(torch::zeros({3, 5}), a, b);
  EXPECT_EQ(counter.flops(), 2 * (2.0 * 3 * 4 * 5));
}

TEST(FlopCounter, CountsABatchedMatmulOnceThoughItCallsOtherProducts) {
  torch::Tensor a = torch::randn({2, 3, 4}), b = torch::randn({2, 4, 5});
  FlopCounter counter;
  torch::matmul(a, b);
  EXPECT_EQ(counter.flops(), 2.0 * 2 * 3 * 4 * 5);
}

TEST(FlopCounter, CountsConvolutionsForwardAndTheGradientsTheirBackwardComputes) {
  torch::Tensor input = torch::randn({2, 3, 8, 8}, torch::requires_grad());
  torch::Tensor weight = torch::randn({4, 3, 3, 3}, torch::requires_grad());
  const double pass = 2.0 * 2 * 4 * 3 * 9 * (8 * 8);  // same padding: 8 x 8 outputs
  FlopCounter counter;
  torch::Tensor output = torch::conv2d(input, weight, {}, 1, 1);
  EXPECT_EQ(counter.flops(), pass);
  output.sum().backward();
  EXPECT_EQ(counter.flops(), 3 * pass);  // + input and weight gradients
  torch::conv2d(input.detach(), weight.detach(), {}, /*stride=*/2, /*padding=*/1);
  EXPECT_EQ(counter.flops(), 3 * pass + pass / 4);  // 4 x 4 outputs
}

TEST(FlopCounter, CountsAMetricsSyrkGram) {
  auto plugin = testing::built_plugins().metric("linear-cka");
  auto metric = plugin->create(defaults_of(plugin->info().params));
  const int64_t n = 16, d = 512;  // wide: the n x n Gram route, one syrk per side
  torch::Tensor x = torch::randn({n, d}), y = torch::randn({n, d});
  FlopCounter counter;
  torch::NoGradGuard no_grad;
  metric->distance(x, y);
  EXPECT_EQ(counter.flops(), 2.0 * n * n * d);
}

TEST(FlopCounter, CountsNothingOnceGone) {
  torch::Tensor a = torch::randn({3, 4}), b = torch::randn({4, 5});
  { FlopCounter counter; }
  FlopCounter counter;
  EXPECT_EQ(counter.flops(), 0.0);
  a.add(a);
  EXPECT_EQ(counter.flops(), 0.0);
}

}  // namespace
}  // namespace guidance
