#include "host/training/FusedAdam.h"

#include <sstream>

#include <torch/serialize.h>

#include "tests/support/TestSupport.h"

namespace guidance {
namespace {

/// Runs `steps` updates of an optimiser over copies of `initial` with fixed gradients per step.
template <typename Optimizer>
std::vector<torch::Tensor> optimise(const std::vector<torch::Tensor>& initial,
                                    const torch::optim::AdamOptions& options, int steps,
                                    Optimizer** keep = nullptr) {
  std::vector<torch::Tensor> parameters;
  for (const auto& tensor : initial) parameters.push_back(tensor.clone().set_requires_grad(true));
  auto optimizer = std::make_unique<Optimizer>(parameters, options);
  for (int step = 0; step < steps; ++step) {
    optimizer->zero_grad();
    torch::manual_seed(100 + step);
    for (auto& parameter : parameters) parameter.mutable_grad() = torch::randn_like(parameter);
    optimizer->step();
  }
  if (keep != nullptr) *keep = optimizer.release();
  return parameters;
}

TEST(FusedAdam, FollowsLibTorchsAdamToFloatRounding) {
  torch::manual_seed(7);
  std::vector<torch::Tensor> initial{torch::randn({300, 70}), torch::randn({70}),
                                     torch::randn({5, 3, 3, 3})};
  for (double decay : {0.0, 0.01}) {
    auto options = torch::optim::AdamOptions(3e-3).weight_decay(decay);
    auto expected = optimise<torch::optim::Adam>(initial, options, 25);
    auto actual = optimise<FusedAdam>(initial, options, 25);
    for (size_t i = 0; i < initial.size(); ++i) {
      EXPECT_FALSE(torch::equal(actual[i], initial[i])) << "tensor " << i << " did not move";
      // After 25 steps of size ~3e-3, float rounding leaves a few ulp of the weights.
      EXPECT_TRUE(testing::tensors_close(actual[i], expected[i], 1e-5, 1e-6))
          << "tensor " << i << ", weight decay " << decay;
    }
  }
}

TEST(FusedAdam, CheckpointsMoveBetweenItAndLibTorchsAdam) {
  torch::manual_seed(8);
  std::vector<torch::Tensor> initial{torch::randn({40, 20})};
  auto options = torch::optim::AdamOptions(1e-2);
  FusedAdam* fused = nullptr;
  auto parameters = optimise<FusedAdam>(initial, options, 5, &fused);
  std::unique_ptr<FusedAdam> owner(fused);
  std::ostringstream saved;
  {
    torch::serialize::OutputArchive archive;
    fused->save(archive);
    archive.save_to(saved);
  }
  torch::optim::Adam plain(parameters, options);
  std::istringstream in(saved.str());
  torch::serialize::InputArchive archive;
  archive.load_from(in);
  plain.load(archive);
  auto& state = static_cast<torch::optim::AdamParamState&>(
      *plain.state().at(c10::guts::to_string(parameters[0].unsafeGetTensorImpl())));
  EXPECT_EQ(state.step(), 5);
  EXPECT_GT(state.exp_avg_sq().abs().sum().item<double>(), 0.0);
}

TEST(FusedAdam, TakesAdamsOwnStepForTensorsItCannotFuse) {
  torch::manual_seed(9);
  std::vector<torch::Tensor> initial{torch::randn({10, 4}, torch::kDouble)};
  auto options = torch::optim::AdamOptions(1e-2);
  auto expected = optimise<torch::optim::Adam>(initial, options, 3);
  auto actual = optimise<FusedAdam>(initial, options, 3);
  EXPECT_TRUE(torch::equal(actual[0], expected[0]));
}

}  // namespace
}  // namespace guidance
