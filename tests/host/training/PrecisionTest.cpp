// train.precision = "bf16-mixed": the target's and the guide's forward passes under bf16
// autocast, the task loss and the distances in float32, float32 master weights.
#include <ATen/autocast_mode.h>

#include "host/common/Errors.h"
#include "host/training/Precision.h"
#include "host/training/Trainer.h"
#include "tests/host/training/GuidedPair.h"
#include "tests/support/TestSupport.h"

namespace guidance {
namespace {

testing::GuidedPair image_pair() {
  Params data, target, guide;
  data.set("train_subset", int64_t{256});
  data.set("validation_size", int64_t{64});
  target.set("depth", int64_t{3});
  target.set("width", int64_t{64});
  guide.set("channels", std::vector<int64_t>{8, 16});
  return testing::GuidedPair("fashion-mnist", data, "mlp", target, "convnet", guide);
}

testing::GuidedPair token_pair() {
  Params data, target, guide;
  data.set("train_size", int64_t{256});
  data.set("validation_size", int64_t{64});
  target.set("width", int64_t{32});
  guide.set("width", int64_t{32});
  guide.set("dropout", 0.0);  // dropout draws its masks differently for bf16 tensors
  return testing::GuidedPair("copy-paste", data, "transformer", target, "released-transformer",
                             guide);
}

struct Outcome {
  std::vector<StepReport> steps;
  std::map<std::string, double> validation;
  std::vector<torch::Tensor> weights;
};

Outcome train(const testing::GuidedPair& pair, Precision precision) {
  torch::set_num_threads(1);
  TrainerSettings settings;
  settings.train.batch_size = 32;
  settings.train.max_steps = 8;
  settings.train.learning_rate = 1e-3;
  settings.train.train_eval_size = 0;
  settings.train.precision = precision;
  settings.seed = 2;
  Trainer trainer(settings, pair.dataset, pair.task, pair.target, pair.guide, pair.metric,
                  pair.pairs);
  Outcome outcome;
  for (int step = 0; step < 8; ++step) outcome.steps.push_back(trainer.train_step());
  outcome.validation = trainer.evaluate(*pair.target, Split::Validation);
  for (const auto& p : pair.target->parameters()) outcome.weights.push_back(p.detach().clone());
  return outcome;
}

TEST(AutocastScope, Bf16MixedTurnsAutocastOnInsideAndRestoresTheStateOutside) {
  ASSERT_FALSE(at::autocast::is_cpu_enabled());
  const at::ScalarType before = at::autocast::get_autocast_cpu_dtype();
  {
    AutocastScope outer(Precision::BFloat16Mixed, torch::kCPU);
    EXPECT_TRUE(at::autocast::is_cpu_enabled());
    EXPECT_EQ(at::autocast::get_autocast_cpu_dtype(), at::kBFloat16);
    EXPECT_EQ(torch::mm(torch::ones({2, 2}), torch::ones({2, 2})).scalar_type(), at::kBFloat16);
    {
      AutocastScope inner(Precision::Float32, torch::kCPU);  // float32 changes nothing
      EXPECT_TRUE(at::autocast::is_cpu_enabled());
    }
    EXPECT_TRUE(at::autocast::is_cpu_enabled());
  }
  EXPECT_FALSE(at::autocast::is_cpu_enabled());
  EXPECT_EQ(at::autocast::get_autocast_cpu_dtype(), before);
  EXPECT_EQ(torch::mm(torch::ones({2, 2}), torch::ones({2, 2})).scalar_type(), at::kFloat);
}

// On a CPU without AVX512-BF16 the run is refused before it starts, naming the key.
TEST(Precision, Bf16MixedIsRefusedExactlyWhereTheDeviceLacksBf16) {
  if (device_has_bf16(torch::kCPU)) {
    EXPECT_NO_THROW(check_precision_supported(Precision::BFloat16Mixed, torch::kCPU));
  } else {
    try {
      check_precision_supported(Precision::BFloat16Mixed, torch::kCPU);
      ADD_FAILURE() << "bf16-mixed accepted on a CPU without AVX512-BF16";
    } catch (const RunError& error) {
      EXPECT_NE(std::string(error.what()).find("train.precision = \"bf16-mixed\" needs"),
                std::string::npos)
          << error.what();
    }
  }
  EXPECT_NO_THROW(check_precision_supported(Precision::Float32, torch::kCPU));
}

TEST(Precision, OutputsWidenToFloat32AndOtherDtypesStayAsTheyAre) {
  NetworkOutput output{torch::ones({2, 3}, torch::kBFloat16),
                       {torch::ones({2, 4}, torch::kBFloat16), torch::ones({2}, torch::kDouble),
                        torch::Tensor()}};
  NetworkOutput wide = in_float32(output);
  EXPECT_EQ(wide.logits.scalar_type(), at::kFloat);
  EXPECT_EQ(wide.taps[0].scalar_type(), at::kFloat);
  EXPECT_EQ(wide.taps[1].scalar_type(), at::kDouble);  // the float64 fidelity pairs stay exact
  EXPECT_FALSE(wide.taps[2].defined());
}

// The bf16 run really computes in bf16 (its figures differ from float32's), stays close to the
// float32 run, and keeps float32 master weights; for an image pair (conv and Linear under
// autocast) and a token pair (LayerNorm, which 1.13's autocast leaves out, and attention). Where
// the CPU has no bf16, the Trainer refuses the run instead.
void expect_bf16_close_to_float32(const testing::GuidedPair& make_float,
                                  const testing::GuidedPair& make_bf16) {
  if (!device_has_bf16(torch::kCPU)) {
    EXPECT_THROW(train(make_bf16, Precision::BFloat16Mixed), RunError);
    return;
  }
  Outcome full = train(make_float, Precision::Float32);
  Outcome mixed = train(make_bf16, Precision::BFloat16Mixed);
  ASSERT_EQ(full.steps.size(), mixed.steps.size());
  EXPECT_NE(full.steps.front().guidance_loss, mixed.steps.front().guidance_loss);
  for (size_t i = 0; i < full.steps.size(); ++i) {
    EXPECT_NEAR(mixed.steps[i].task_loss, full.steps[i].task_loss,
                0.03 * std::abs(full.steps[i].task_loss))
        << "step " << i + 1;
    EXPECT_NEAR(mixed.steps[i].guidance_loss, full.steps[i].guidance_loss,
                0.03 * std::abs(full.steps[i].guidance_loss) + 1e-3)
        << "step " << i + 1;
  }
  EXPECT_NEAR(mixed.validation.at("loss"), full.validation.at("loss"),
              0.03 * full.validation.at("loss"));
  for (const auto& weight : mixed.weights) EXPECT_EQ(weight.scalar_type(), at::kFloat);
}

TEST(Precision, Bf16MixedImagePairTrainsCloseToFloat32WithFloat32Weights) {
  expect_bf16_close_to_float32(image_pair(), image_pair());
}

TEST(Precision, Bf16MixedTokenPairTrainsCloseToFloat32WithFloat32Weights) {
  expect_bf16_close_to_float32(token_pair(), token_pair());
}

}  // namespace
}  // namespace guidance
