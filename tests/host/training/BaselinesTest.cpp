// Baselines as config keys: knowledge distillation from the guide's logits and guidance on a
// chosen subset of taps.
#include <cmath>
#include <filesystem>

#include "analysis/RecordReader.h"
#include "host/common/Errors.h"
#include "host/config/Config.h"
#include "host/training/GuidanceLoss.h"
#include "host/training/LayerMap.h"
#include "host/training/RunSetup.h"
#include "tests/support/TestSupport.h"

namespace guidance {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

/// A small parity run (RNN target with taps layer1, layer2; transformer guide with taps
/// block{1,2}.{attention,feed_forward}); `guidance` is the body of its [guidance] table.
std::string parity_config(const std::string& output, const std::string& guidance,
                          int64_t steps = 60, const std::string& name = "baseline") {
  return R"([run]
name = ")" +
         name + R"("
seed = 3
threads = 1
output = ")" +
         output + R"("
checkpoint_every = 0

[dataset]
plugin = "parity"
train_size = 256
validation_size = 32
test_size = 32
max_length = 8

[target]
plugin = "rnn"
hidden = 16

[guide]
plugin = "transformer"
width = 16

[guidance]
)" + guidance +
         R"(

[train]
batch_size = 32
max_steps = )" +
         std::to_string(steps) + R"(
learning_rate = 0.01

[record]
at_end = false
)";
}

class Baselines : public ::testing::Test {
 protected:
  Config load(const std::string& text) {
    std::string path = directory_.file("config-" + std::to_string(++configs_) + ".toml");
    testing::write_file(path, text);
    return validate_config(ConfigDocument::parse(path), testing::built_plugins());
  }
  std::string write(const std::string& name, const std::string& text) {
    std::string path = directory_.file(name);
    testing::write_file(path, text);
    return path;
  }
  testing::TemporaryDirectory directory_;
  int configs_ = 0;
};

TEST(Distillation, LossIsTheTemperatureScaledKlFromTheGuide) {
  // Target logits [0, 0] give p = (1/2, 1/2); guide logits [2 ln 3, 0] at T = 2 give
  // q = softmax([ln 3, 0]) = (3/4, 1/4). KL(q || p) = 3/4 ln(3/2) + 1/4 ln(1/2), times T² = 4.
  torch::Tensor target = torch::zeros({1, 2});
  torch::Tensor guide = torch::tensor({{2.0 * std::log(3.0), 0.0}});
  double expected = 4.0 * (0.75 * std::log(1.5) + 0.25 * std::log(0.5));
  EXPECT_NEAR(distillation_loss(target, guide, 2.0, {}).item<double>(), expected, 1e-6);
  // Averaged over examples: a second, identical pair of rows leaves it unchanged; a pair of
  // equal logits adds 0 and halves it.
  torch::Tensor two_targets = torch::zeros({2, 2});
  torch::Tensor two_guides = torch::cat({guide, torch::zeros({1, 2})});
  EXPECT_NEAR(distillation_loss(two_targets, two_guides, 2.0, {}).item<double>(), expected / 2,
              1e-6);
  // At T = 1 the same logits: q = softmax([2 ln 3, 0]) = (9/10, 1/10), no scaling.
  double at_one = 0.9 * std::log(0.9 / 0.5) + 0.1 * std::log(0.1 / 0.5);
  EXPECT_NEAR(distillation_loss(target, guide, 1.0, {}).item<double>(), at_one, 1e-6);
}

TEST(Distillation, PerTokenLossCountsOnlyMaskedPositionsAndGradsOnlyTheTarget) {
  torch::Tensor target = torch::zeros({1, 2, 2}, torch::requires_grad());
  torch::Tensor guide =
      torch::tensor({{{2.0 * std::log(3.0), 0.0}, {50.0, -50.0}}}).requires_grad_();
  torch::Tensor mask = torch::tensor({{true, false}});
  double expected = 4.0 * (0.75 * std::log(1.5) + 0.25 * std::log(0.5));
  torch::Tensor loss = distillation_loss(target, guide, 2.0, mask);
  EXPECT_NEAR(loss.item<double>(), expected, 1e-6);
  loss.backward();
  ASSERT_TRUE(target.grad().defined());
  EXPECT_GT(target.grad().abs().sum().item<double>(), 0.0);
  EXPECT_EQ(target.grad()[0][1].abs().sum().item<double>(), 0.0);  // the padding position
  EXPECT_FALSE(guide.grad().defined());
}

TEST_F(Baselines, DistillationKeysAreReadAndResolved) {
  Config both = load(parity_config(
      directory_.file("out"), "alpha = 0.5\ndistillation = { weight = 2.0, temperature = 3.0 }"));
  EXPECT_TRUE(both.guidance.distilling());
  EXPECT_DOUBLE_EQ(both.guidance.distill_weight, 2.0);
  EXPECT_DOUBLE_EQ(both.guidance.distill_temperature, 3.0);
  EXPECT_THAT(both.resolved_toml(), HasSubstr("temperature = 3"));
  Config alone = load(parity_config(directory_.file("out"), "layer_map = []\ndistillation = {}"));
  EXPECT_DOUBLE_EQ(alone.guidance.distill_weight, 1.0);
  EXPECT_DOUBLE_EQ(alone.guidance.distill_temperature, 4.0);
  EXPECT_TRUE(alone.guidance.pairs.empty());
  Config plain = load(parity_config(directory_.file("out"), "alpha = 1.0"));
  EXPECT_FALSE(plain.guidance.distilling());

  EXPECT_THROW(load(parity_config(directory_.file("out"), "layer_map = []")), ConfigError);
  try {
    load(parity_config(directory_.file("out"), "guide_input = \"noise\"\ndistillation = {}"));
    FAIL() << "distillation on noise inputs was accepted";
  } catch (const ConfigError& error) {
    EXPECT_THAT(error.what(), HasSubstr("guidance.distillation"));
  }
  try {
    load(
        parity_config(directory_.file("out"), "distillation = { weight = 1.0, temprature = 2.0 }"));
    FAIL() << "a misspelt key was accepted";
  } catch (const ConfigError& error) {
    EXPECT_THAT(error.what(), HasSubstr("guidance.distillation.temprature"));
  }
}

/// A network whose logits have `outputs` classes whatever the task says.
class FixedOutputs : public Network {
 public:
  explicit FixedOutputs(int64_t outputs) : outputs_(outputs) {}
  NetworkOutput forward(const NetworkInput& input) override {
    torch::Tensor logits = torch::zeros({input.inputs.size(0), outputs_});
    return {logits, {logits}};
  }
  std::vector<TapSpec> taps() const override { return {{"out", TapLayout::Flat}}; }

 private:
  int64_t outputs_;
};

TEST_F(Baselines, DistillationRefusesAGuideWithOtherOutputs) {
  Config config = load(parity_config(directory_.file("out"), "distillation = { weight = 1.0 }"));
  RunComponents run = assemble_run(config, testing::built_plugins());  // same outputs: fine
  run.guide = std::make_shared<FixedOutputs>(run.task.num_outputs + 3);
  try {
    check_distillable(config, run);
    FAIL() << "a guide with other outputs was accepted";
  } catch (const ConfigError& error) {
    EXPECT_THAT(error.what(), HasSubstr("key 'guidance.distillation'"));
    EXPECT_THAT(error.what(), HasSubstr("output size"));
  }
  // `guidance check` runs the same check: a distilling config with matching networks passes.
  std::string path =
      write("check.toml", parity_config(directory_.file("out"), "distillation = {}"));
  testing::CommandResult checked = testing::run_cli("check '" + path + "'");
  EXPECT_EQ(checked.exit_code, 0) << checked.err;
}

TEST(TapSubset, UniformMapOverChosenTapsKeepsNetworkIndices) {
  std::vector<TapSpec> guide = {
      {"b1.attention"}, {"b1.feed_forward"}, {"b2.attention"}, {"b2.feed_forward"}};
  std::vector<TapSpec> target = {{"layer1"}, {"layer2"}, {"layer3"}};
  GuidanceSection section;
  section.guide_taps = {"b2.feed_forward", "b1.feed_forward"};  // network order wins
  section.target_taps = {"layer1", "layer3"};
  std::vector<TapPair> pairs = resolve_layer_map(section, guide, target);
  ASSERT_EQ(pairs.size(), 2u);
  EXPECT_EQ(pairs[0].label(), "guide.b1.feed_forward->target.layer1");
  EXPECT_EQ(pairs[0].guide_index, 1u);
  EXPECT_EQ(pairs[0].target_index, 0u);
  EXPECT_EQ(pairs[1].label(), "guide.b2.feed_forward->target.layer3");
  EXPECT_EQ(pairs[1].guide_index, 3u);
  EXPECT_EQ(pairs[1].target_index, 2u);

  section.target_taps = {"layer4"};
  try {
    resolve_layer_map(section, guide, target);
    FAIL() << "an unknown tap was accepted";
  } catch (const ConfigError& error) {
    EXPECT_THAT(error.what(), HasSubstr("guidance.target_taps"));
    EXPECT_THAT(error.what(), HasSubstr("layer3"));
  }
}

TEST_F(Baselines, TapSubsetRunGuidesOnlyTheChosenPairs) {
  std::string path =
      write("subset.toml",
            parity_config(directory_.file("subset"),
                          "guide_taps = [\"block1.feed_forward\", \"block2.feed_forward\"]", 6));
  testing::CommandResult result = testing::run_cli("run --quiet '" + path + "'");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  analysis::RecordReader record(directory_.file("subset") + "/baseline/run.h5");
  EXPECT_EQ(record.layout().pair_names,
            (std::vector<std::string>{"guide.block1.feed_forward->target.layer1",
                                      "guide.block2.feed_forward->target.layer2"}));
  analysis::Table training = record.training();
  EXPECT_TRUE(training.has("distance guide.block1.feed_forward->target.layer1"));
  EXPECT_FALSE(training.has("distance guide.block1.attention->target.layer1"));

  // Explicit pairs choose their taps already: a subset filter beside them is refused.
  std::string both =
      write("both.toml",
            parity_config(
                directory_.file("subset"),
                "layer_map = [[\"block1.attention\", \"layer1\"]]\ntarget_taps = [\"layer1\"]", 6));
  testing::CommandResult refused = testing::run_cli("check '" + both + "'");
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_THAT(refused.err, HasSubstr("guidance.target_taps"));
}

double mean_of(const std::vector<double>& values, size_t begin, size_t end) {
  double sum = 0;
  for (size_t i = begin; i < end; ++i) sum += values[i];
  return sum / static_cast<double>(end - begin);
}

TEST_F(Baselines, DistillationAloneLowersTheKlAndIsRecorded) {
  // The same run (seed, data order, initial weights) with distillation at full and at negligible
  // weight: both record the KL to the guide, only the first is trained to lower it.
  auto kl_of = [&](const std::string& name, const std::string& weight) {
    std::string path =
        write(name + ".toml", parity_config(directory_.file(name),
                                            "layer_map = []\ndistillation = { weight = " + weight +
                                                ", temperature = 2.0 }",
                                            60));
    testing::CommandResult result = testing::run_cli("run --quiet '" + path + "'");
    EXPECT_EQ(result.exit_code, 0) << result.err;
    analysis::RecordReader record(directory_.file(name) + "/baseline/run.h5");
    EXPECT_TRUE(record.layout().pair_names.empty());
    return record.training();
  };
  analysis::Table distilled = kl_of("kd", "5.0");
  analysis::Table reference = kl_of("reference", "1e-9");
  const auto& kd = distilled.column("distill_loss").numbers;
  const auto& kd_reference = reference.column("distill_loss").numbers;
  ASSERT_EQ(kd.size(), 60u);
  ASSERT_EQ(kd_reference.size(), 60u);
  EXPECT_NEAR(kd[0], kd_reference[0], 1e-6);  // the same start
  EXPECT_GT(mean_of(kd, 0, 10), 0.0);
  EXPECT_LT(mean_of(kd, 50, 60), 0.5 * mean_of(kd_reference, 50, 60));
  EXPECT_LT(mean_of(kd, 50, 60), mean_of(kd, 0, 10));
  for (double value : distilled.column("guidance_loss").numbers) EXPECT_EQ(value, 0.0);
  // total = task + weight · distill when there are no pairs.
  const auto& task = distilled.column("task_loss").numbers;
  const auto& total = distilled.column("total_loss").numbers;
  EXPECT_NEAR(total[5], task[5] + 5.0 * kd[5], 1e-5);
}

TEST_F(Baselines, GuidanceAloneRecordsNoDistillation) {
  std::string path = write("plain.toml", parity_config(directory_.file("plain"), "alpha = 0.5", 4));
  testing::CommandResult result = testing::run_cli("run --quiet '" + path + "'");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  analysis::RecordReader record(directory_.file("plain") + "/baseline/run.h5");
  analysis::Table training = record.training();
  for (double value : training.column("distill_loss").numbers) EXPECT_EQ(value, 0.0);
  EXPECT_GT(training.column("guidance_loss").numbers.back(), 0.0);
}

}  // namespace
}  // namespace guidance
