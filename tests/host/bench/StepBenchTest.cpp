#include "host/bench/StepBench.h"

#include <map>
#include <sstream>

#include "host/training/Precision.h"
#include "tests/support/TestSupport.h"

namespace guidance {
namespace {

using testing::run_cli;

/// An FCN on 128 Fashion-MNIST images, batch 32 (4 steps an epoch), optionally guided by a CNN.
std::string small_config(bool guided) {
  std::string config = R"([run]
name = "bench-small"
threads = 1

[dataset]
plugin = "fashion-mnist"
train_subset = 128
validation_size = 0

[target]
plugin = "mlp"
depth = 2
width = 32

[train]
batch_size = 32
)";
  if (guided) {
    config += R"(
[guide]
plugin = "convnet"
channels = [4, 8]

[guidance.metric]
plugin = "linear-cka"
)";
  }
  return config;
}

std::map<std::string, double> figures_of(const std::string& output) {
  std::map<std::string, double> figures;
  std::istringstream lines(output);
  std::string name;
  double value = 0;
  while (lines >> name >> value) figures[name] = value;
  return figures;
}

TEST(StepBench, CountsAnFcnStepsOperationsExactly) {
  testing::TemporaryDirectory directory;
  testing::write_file(directory.file("fcn.toml"), small_config(false));
  auto result = run_cli("bench " + directory.file("fcn.toml") + " --steps 2 --warmup 1");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  auto figures = figures_of(result.out);
  // Forward: one addmm per layer (784 -> 32 -> 32 -> 10) over 32 examples. Backward: each
  // layer's weight gradient, and the input gradient of every layer but the first.
  const double forward = 2.0 * 32 * (784 * 32 + 32 * 32 + 32 * 10);
  const double input_gradients = 2.0 * 32 * (32 * 32 + 32 * 10);
  EXPECT_NEAR(figures.at("step_gflop") * 1e9, 2 * forward + input_gradients, 1e-5 * forward);
}

TEST(StepBench, ReportsEveryFigureAndPhaseSharesThatAddUp) {
  testing::TemporaryDirectory directory;
  testing::write_file(directory.file("guided.toml"), small_config(true));
  // The cache off: the last timed step would otherwise start the second epoch from it.
  auto result = run_cli("bench " + directory.file("guided.toml") +
                        " --steps 3 --warmup 1 --guide-cache off");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  auto figures = figures_of(result.out);
  double shares = 0;
  for (const char* phase :
       {"data", "guide_forward", "target_forward", "distances", "backward", "optimizer"}) {
    ASSERT_TRUE(figures.count(std::string("share.") + phase)) << phase << "\n" << result.out;
    EXPECT_GT(figures.at(std::string("share.") + phase), 0.0) << phase;
    shares += figures.at(std::string("share.") + phase);
  }
  // The phases cover the step but for the loop's bookkeeping.
  EXPECT_GT(shares, 0.9);
  EXPECT_LE(shares, 1.0 + 1e-6);
  for (const char* name : {"steps_per_s", "seconds_per_step", "step_gflop", "matmul_gflop_per_s",
                           "compute_fraction", "peak_rss_mib"}) {
    ASSERT_TRUE(figures.count(name)) << name << "\n" << result.out;
    EXPECT_GT(figures.at(name), 0.0) << name;
  }
  EXPECT_NEAR(figures.at("steps_per_s") * figures.at("seconds_per_step"), 1.0, 1e-4);
  EXPECT_NEAR(figures.at("compute_fraction"),
              figures.at("step_gflop") * figures.at("steps_per_s") / figures.at("matmul_gflop_per_s"),
              1e-4 * figures.at("compute_fraction"));
  EXPECT_EQ(figures.at("guide_cache_hits"), 0.0);
}

TEST(StepBench, TimedStepsReadTheGuideCacheOnceAnEpochHasFilledIt) {
  testing::TemporaryDirectory directory;
  testing::write_file(directory.file("guided.toml"), small_config(true));
  // By default (guide_cache = "auto", a batch-invariant convnet guide, a budget from free
  // memory) 4 warm-up steps fill the cache (one epoch); the counted step and the 3 timed ones
  // hit it.
  auto result = run_cli("bench " + directory.file("guided.toml") + " --steps 3 --warmup 4");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(figures_of(result.out).at("guide_cache_hits"), 3.0) << result.err;
  EXPECT_THAT(result.err, ::testing::HasSubstr("guide cache: on"));
  auto off = run_cli("bench " + directory.file("guided.toml") +
                     " --steps 3 --warmup 4 --guide-cache off");
  ASSERT_EQ(off.exit_code, 0) << off.err;
  EXPECT_EQ(figures_of(off.out).at("guide_cache_hits"), 0.0) << off.err;
  EXPECT_THAT(off.err, ::testing::HasSubstr("guide cache: off (guidance.guide_cache = \"off\")"));
}

TEST(StepBench, UnguidedSpendsNothingOnTheGuide) {
  testing::TemporaryDirectory directory;
  testing::write_file(directory.file("guided.toml"), small_config(true));
  auto result = run_cli("bench " + directory.file("guided.toml") + " --steps 2 --unguided");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  auto figures = figures_of(result.out);
  EXPECT_EQ(figures.at("share.guide_forward"), 0.0);
  EXPECT_EQ(figures.at("share.distances"), 0.0);
}

TEST(StepBench, RefusesASweepAndBadCounts) {
  testing::TemporaryDirectory directory;
  testing::write_file(directory.file("sweep.toml"),
                      small_config(false) + "\n[sweep]\n\"run.seed\" = [0, 1]\n");
  auto sweep = run_cli("bench " + directory.file("sweep.toml"));
  EXPECT_EQ(sweep.exit_code, 2);
  EXPECT_THAT(sweep.err, ::testing::HasSubstr("describes 2 runs"));
  testing::write_file(directory.file("fcn.toml"), small_config(false));
  auto steps = run_cli("bench " + directory.file("fcn.toml") + " --steps 0");
  EXPECT_EQ(steps.exit_code, 2);
  EXPECT_THAT(steps.err, ::testing::HasSubstr("--steps must be at least 1, got 0"));
}

// --precision overrides train.precision: bf16-mixed runs where the CPU has bf16 and is refused,
// naming the key, where it does not; a name it does not know lists the ones it does.
TEST(StepBench, PrecisionOptionRunsBf16MixedWhereTheCpuHasIt) {
  testing::TemporaryDirectory directory;
  testing::write_file(directory.file("guided.toml"), small_config(true));
  auto mixed = run_cli("bench " + directory.file("guided.toml") +
                       " --steps 1 --warmup 0 --precision bf16-mixed");
  if (device_has_bf16(torch::kCPU)) {
    ASSERT_EQ(mixed.exit_code, 0) << mixed.err;
    EXPECT_GT(figures_of(mixed.out).at("steps_per_s"), 0.0);
  } else {
    EXPECT_EQ(mixed.exit_code, 1);
    EXPECT_THAT(mixed.err, ::testing::HasSubstr("train.precision = \"bf16-mixed\" needs"));
  }
  auto unknown = run_cli("bench " + directory.file("guided.toml") + " --precision 16-mixed");
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_THAT(unknown.err, ::testing::HasSubstr("must be one of '32', 'bf16-mixed'"));
}

}  // namespace
}  // namespace guidance
