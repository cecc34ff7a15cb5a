#include <cmath>
#include <filesystem>

#include "host/common/Errors.h"
#include "host/training/Checkpoint.h"
#include "host/training/GuidanceLoss.h"
#include "host/training/Optimization.h"
#include "host/training/RunSetup.h"
#include "host/training/TaskObjective.h"
#include "host/training/Trainer.h"
#include "tests/host/training/GuidedPair.h"
#include "tests/support/TestSupport.h"

namespace guidance {
namespace {

/// A parity task with a small RNN target guided by a small transformer, built from the real
/// plugins.
struct SmallRun : testing::GuidedPair {
  SmallRun() : GuidedPair("parity", data(), "rnn", sized("hidden"), "transformer", sized("width"), 1) {}

  static Params data() {
    Params data;
    data.set("train_size", int64_t{128});
    data.set("validation_size", int64_t{32});
    data.set("test_size", int64_t{32});
    data.set("max_length", int64_t{8});
    return data;
  }

  /// @return parameters setting `key` (the network's size) to 16
  static Params sized(const std::string& key) {
    Params params;
    params.set(key, int64_t{16});
    return params;
  }
};

TrainerSettings small_settings() {
  TrainerSettings settings;
  settings.train.batch_size = 16;
  settings.train.max_steps = 6;
  settings.train.learning_rate = 1e-2;
  settings.train.train_eval_size = 32;
  settings.seed = 9;
  return settings;
}

TEST(Trainer, GuideStaysBitIdenticalWhileTheTargetLearns) {
  torch::set_num_threads(1);
  SmallRun run;
  std::vector<torch::Tensor> guide_before, target_before;
  for (const auto& p : run.guide->parameters()) guide_before.push_back(p.detach().clone());
  for (const auto& b : run.guide->buffers()) guide_before.push_back(b.detach().clone());
  for (const auto& p : run.target->parameters()) target_before.push_back(p.detach().clone());

  Trainer trainer(small_settings(), run.dataset, run.task, run.target, run.guide, run.metric, run.pairs);
  TrainingObserver observer;
  ASSERT_TRUE(trainer.run(observer));

  std::vector<torch::Tensor> guide_after;
  for (const auto& p : run.guide->parameters()) guide_after.push_back(p);
  for (const auto& b : run.guide->buffers()) guide_after.push_back(b);
  ASSERT_EQ(guide_before.size(), guide_after.size());
  for (size_t i = 0; i < guide_before.size(); ++i) {
    EXPECT_TRUE(torch::equal(guide_before[i], guide_after[i])) << "guide tensor " << i << " changed";
  }
  bool target_changed = false;
  auto target_after = run.target->parameters();
  for (size_t i = 0; i < target_before.size(); ++i) {
    target_changed |= !torch::equal(target_before[i], target_after[i]);
  }
  EXPECT_TRUE(target_changed);
}

/// Records what a trainer reports.
struct Recorder : TrainingObserver {
  void on_step(const StepReport& report) override { steps.push_back(report); }
  std::vector<StepReport> steps;
};

TEST(Trainer, GuidanceTermIsReportedPerPairAndStopsAfterGuidedSteps) {
  torch::set_num_threads(1);
  SmallRun run;
  TrainerSettings settings = small_settings();
  settings.guidance.guided_steps = 3;
  Trainer trainer(settings, run.dataset, run.task, run.target, run.guide, run.metric, run.pairs);
  Recorder recorder;
  ASSERT_TRUE(trainer.run(recorder));
  ASSERT_EQ(recorder.steps.size(), 6u);
  for (int i = 0; i < 3; ++i) {
    const StepReport& step = recorder.steps[i];
    EXPECT_GT(step.guidance_loss, 0.0);
    ASSERT_EQ(step.pair_distances.size(), run.pairs.size());
    double sum = 0;
    for (double d : step.pair_distances) sum += d;
    EXPECT_NEAR(sum, step.guidance_loss, 1e-6);
    EXPECT_NEAR(step.total_loss, step.task_loss + step.guidance_loss, 1e-5);  // alpha = 1
  }
  for (int i = 3; i < 6; ++i) EXPECT_EQ(recorder.steps[i].guidance_loss, 0.0);
}

TEST(Trainer, SameSeedAndThreadsReproduceTheRunExactly) {
  torch::set_num_threads(1);
  auto losses = [] {
    SmallRun run;
    Trainer trainer(small_settings(), run.dataset, run.task, run.target, run.guide, run.metric, run.pairs);
    Recorder recorder;
    trainer.run(recorder);
    std::vector<double> result;
    for (const auto& step : recorder.steps) result.push_back(step.total_loss);
    return result;
  };
  EXPECT_EQ(losses(), losses());
}

TEST(Trainer, ObserversHearOfACheckpointBeforeItIsWritten) {
  torch::set_num_threads(1);
  testing::TemporaryDirectory directory;
  SmallRun run;
  TrainerSettings settings = small_settings();
  settings.checkpoint_path = directory.file("checkpoint.pt");
  settings.checkpoint_every = 2;
  // A record flushed here is never behind the checkpoint, so a kill between the two loses nothing.
  struct CheckpointWatcher : TrainingObserver {
    std::string path;
    std::vector<std::pair<int64_t, bool>> calls;  // (step, checkpoint file already there)
    void on_checkpoint(int64_t step) override {
      calls.emplace_back(step, std::filesystem::exists(path));
    }
  } watcher;
  watcher.path = settings.checkpoint_path;
  Trainer trainer(settings, run.dataset, run.task, run.target, run.guide, run.metric, run.pairs);
  ASSERT_TRUE(trainer.run(watcher));
  ASSERT_FALSE(watcher.calls.empty());
  EXPECT_EQ(watcher.calls.front(), std::make_pair(int64_t{2}, false));
  EXPECT_TRUE(std::filesystem::exists(settings.checkpoint_path));
}

TEST(GuidanceLoss, MaskedTokenwiseComparisonIgnoresPaddingPositions) {
  SmallRun run;
  torch::manual_seed(3);
  torch::Tensor target = torch::randn({6, 4, 5}, torch::kDouble);
  torch::Tensor guide = torch::randn({6, 4, 3}, torch::kDouble);
  torch::Tensor mask = torch::ones({6, 4}, torch::kBool);
  mask.index_put_({torch::indexing::Slice(3, 6), 3}, false);  // last position padded for 3 rows
  std::vector<TapSpec> specs = {{"s", TapLayout::Sequence}};
  std::vector<TapPair> pairs = {{0, 0, "s", "s"}};
  const SequenceComparison masked_tokenwise{true, true};
  double before =
      guidance_terms(*run.metric, pairs, specs, specs, {guide}, {target}, mask, masked_tokenwise)
          .total.item<double>();
  // Changing activations at padded positions must not change the distance.
  torch::Tensor altered = target.clone();
  altered.index_put_({torch::indexing::Slice(3, 6), 3}, 100.0);
  double after =
      guidance_terms(*run.metric, pairs, specs, specs, {guide}, {altered}, mask, masked_tokenwise)
          .total.item<double>();
  EXPECT_DOUBLE_EQ(before, after);
  // And the sum over positions equals the per-position distances computed by hand.
  double expected = 0;
  for (int64_t l = 0; l < 4; ++l) {
    int64_t rows = l == 3 ? 3 : 6;
    expected += run.metric->distance(target.select(1, l).narrow(0, 0, rows),
                                     guide.select(1, l).narrow(0, 0, rows)).item<double>();
  }
  EXPECT_NEAR(before, expected, 1e-10);
}

TEST(Weights, RoundTripAndMismatchesNameEveryTensor) {
  SmallRun run;
  testing::TemporaryDirectory directory;
  std::string path = directory.file("rnn.pt");
  save_weights(*run.target, path);

  SmallRun same;  // same seed: identical; perturb it, then load the saved weights back
  for (auto& p : same.target->parameters()) p.data().add_(1.0);
  load_weights(*same.target, path);
  auto expected = run.target->named_parameters();
  for (const auto& item : same.target->named_parameters()) {
    EXPECT_TRUE(torch::equal(item.value(), expected[item.key()])) << item.key();
  }

  // A network of another width: every mismatched tensor is named with both shapes.
  auto rnn = testing::built_plugins().architecture("rnn");
  Params wider = defaults_of(rnn->info().params);
  wider.set("hidden", int64_t{24});
  auto other = rnn->build(run.task, wider);
  try {
    load_weights(*other, path);
    FAIL() << "expected RunError";
  } catch (const RunError& error) {
    EXPECT_THAT(error.what(), ::testing::HasSubstr("weights file '" + path + "' does not match"));
    EXPECT_THAT(error.what(), ::testing::HasSubstr("has shape [16"));
    EXPECT_THAT(error.what(), ::testing::HasSubstr("the network expects [24"));
  }
  EXPECT_THROW(load_weights(*other, directory.file("absent.pt")), RunError);
}

TEST(Optimization, SchedulesFollowTheirDefinitions) {
  TrainSection train;
  train.learning_rate = 1.0;
  train.schedule = Schedule::Step;
  train.step_epochs = 30;
  train.gamma = 0.1;
  EXPECT_DOUBLE_EQ(learning_rate_at(train, 29 * 10, 10, 1000), 1.0);
  EXPECT_NEAR(learning_rate_at(train, 30 * 10, 10, 1000), 0.1, 1e-12);
  EXPECT_NEAR(learning_rate_at(train, 61 * 10, 10, 1000), 0.01, 1e-12);
  train.schedule = Schedule::Cosine;
  train.min_learning_rate = 0.0;
  EXPECT_DOUBLE_EQ(learning_rate_at(train, 0, 10, 100), 1.0);
  EXPECT_NEAR(learning_rate_at(train, 50, 10, 100), 0.5, 1e-12);
  EXPECT_NEAR(learning_rate_at(train, 100, 10, 100), 0.0, 1e-12);
  train.warmup_steps = 4;
  EXPECT_NEAR(learning_rate_at(train, 0, 10, 100), 0.25, 1e-12);
  EXPECT_NEAR(learning_rate_at(train, 3, 10, 100), 1.0, 1e-12);
}

TEST(TaskObjective, MeasuresCountOnlyScoredPositions) {
  TaskSpec task;
  task.target_kind = TargetKind::TokenPerPosition;
  task.measures = {measures::kTokenAccuracy, measures::kSequenceAccuracy, measures::kPerplexity};
  // Two sequences of 3 positions over a vocabulary of 2; logits favour token 1 everywhere.
  torch::Tensor logits = torch::tensor({0.0, 5.0}).repeat({2, 3, 1});
  Batch batch;
  batch.targets = torch::tensor({{1, 1, 0}, {1, 0, 0}}, torch::kLong);
  batch.target_mask = torch::tensor({{true, true, false}, {true, true, false}});
  MeasureAccumulator accumulator(task);
  accumulator.add(logits, batch);
  auto result = accumulator.result();
  EXPECT_DOUBLE_EQ(result.at(measures::kTokenAccuracy), 3.0 / 4.0);
  EXPECT_DOUBLE_EQ(result.at(measures::kSequenceAccuracy), 1.0 / 2.0);
  EXPECT_NEAR(result.at(measures::kPerplexity), std::exp(result.at("loss")), 1e-9);
}

/// @return log(1 + e^x), computed directly.
double softplus(double x) { return std::log(1.0 + std::exp(x)); }

TEST(TaskObjective, OneHotBinaryCrossEntropyScoresEveryLogitAgainstTheOneHotLabel) {
  TaskSpec task;
  task.target_kind = TargetKind::Class;
  task.num_outputs = 2;
  task.measures = {measures::kTop1};
  task.class_loss = ClassLoss::OneHotBinaryCrossEntropy;
  torch::Tensor logits = torch::tensor({{2.0, -1.0}, {0.5, 1.5}, {-3.0, 4.0}}, torch::kDouble);
  Batch batch;
  batch.targets = torch::tensor({0, 0, 1}, torch::kLong);
  // BCEWithLogits(x, y) = log(1 + e^x) - x y, averaged over the 3 x 2 logits.
  const double expected = ((softplus(2.0) - 2.0) + softplus(-1.0) + (softplus(0.5) - 0.5) +
                           softplus(1.5) + softplus(-3.0) + (softplus(4.0) - 4.0)) /
                          6.0;
  EXPECT_NEAR(task_loss(task, logits, batch).item<double>(), expected, 1e-12);
  MeasureAccumulator accumulator(task);
  accumulator.add(logits.slice(0, 0, 2), Batch{{}, {}, batch.targets.slice(0, 0, 2), {}});
  accumulator.add(logits.slice(0, 2), Batch{{}, {}, batch.targets.slice(0, 2), {}});
  auto result = accumulator.result();
  EXPECT_NEAR(result.at("loss"), expected, 1e-6);
  EXPECT_DOUBLE_EQ(result.at(measures::kTop1), 2.0 / 3.0);  // argmax: 0, 1, 1

  task.class_loss = ClassLoss::CrossEntropy;  // the default: softmax over the 2 logits
  const double cross_entropy =
      (softplus(-3.0) + softplus(1.0) + softplus(-7.0)) / 3.0;  // -log softmax = log(1 + e^(other - own))
  EXPECT_NEAR(task_loss(task, logits, batch).item<double>(), cross_entropy, 1e-12);
}

TEST(TaskObjective, TokenLossIgnoresUnscoredPositionsLikeIgnoreIndexZero) {
  TaskSpec task;
  task.target_kind = TargetKind::TokenPerPosition;
  task.measures = {measures::kTokenAccuracy};
  // One sequence of 4 positions over 3 ids; the released copy-paste scores targets that are not 0.
  torch::Tensor logits = torch::tensor(
      {{{1.0, 0.0, 0.0}, {0.0, 2.0, 0.0}, {0.0, 0.0, 0.0}, {3.0, 0.0, 1.0}}}, torch::kDouble);
  Batch batch;
  batch.targets = torch::tensor({{0, 1, 0, 2}}, torch::kLong);
  batch.target_mask = batch.targets.ne(0);
  auto nll = [](double own, double a, double b) {
    return -std::log(std::exp(own) / (std::exp(own) + std::exp(a) + std::exp(b)));
  };
  const double expected = (nll(2.0, 0.0, 0.0) + nll(1.0, 3.0, 0.0)) / 2.0;
  EXPECT_NEAR(task_loss(task, logits, batch).item<double>(), expected, 1e-12);
  MeasureAccumulator accumulator(task);
  accumulator.add(logits, batch);
  EXPECT_DOUBLE_EQ(accumulator.result().at(measures::kTokenAccuracy), 1.0 / 2.0);
}

}  // namespace
}  // namespace guidance
