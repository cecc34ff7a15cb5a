#include "host/bench/StepBench.h"

#include <map>
#include <sstream>

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
  auto result = run_cli("bench " + directory.file("guided.toml") + " --steps 3 --warmup 1");
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
  // 4 warm-up steps fill the cache (one epoch); the counted step and the 3 timed ones hit it.
  auto result = run_cli("bench " + directory.file("guided.toml") +
                        " --steps 3 --warmup 4 --guide-cache-mb 16");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(figures_of(result.out).at("guide_cache_hits"), 3.0) << result.err;
  EXPECT_THAT(result.err, ::testing::HasSubstr("guide cache: on"));
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

}  // namespace
}  // namespace guidance
