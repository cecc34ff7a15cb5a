#include "host/training/GuideTapCache.h"

#include "host/config/Config.h"
#include "host/training/LayerMap.h"
#include "host/training/Trainer.h"
#include "tests/host/training/GuidedPair.h"
#include "tests/support/TestSupport.h"

namespace guidance {
namespace {

using CachedPair = testing::GuidedPair;

struct Recorder : TrainingObserver {
  void on_step(const StepReport& report) override { steps.push_back(report); }
  std::vector<StepReport> steps;
};

/// What a run of 3 epochs gives: every step's figures and the final weights.
struct Outcome {
  std::vector<StepReport> steps;
  std::vector<torch::Tensor> weights;
  int64_t hits = 0;
  std::string cache_status;
};

/// The cache settings of a run: `guidance.guide_cache`, its budget and storage.
struct CacheSettings {
  GuideCacheMode mode = GuideCacheMode::Off;
  int64_t budget_mb = 64;
  bool bf16 = false;
};

template <typename MakePair>
Outcome train(MakePair make_pair, CacheSettings cache) {
  torch::set_num_threads(1);
  auto pair = make_pair();
  TrainerSettings settings;
  settings.train.batch_size = 32;
  settings.train.epochs = 3;
  settings.train.learning_rate = 3e-3;
  settings.train.train_eval_size = 0;
  settings.seed = 4;
  settings.guidance.distill_weight = 0.5;  // the cached logits are used too
  settings.guidance.guide_cache = cache.mode;
  settings.guidance.guide_cache_mb = cache.budget_mb;
  settings.guidance.guide_cache_bf16 = cache.bf16;
  settings.guidance.guide_mode = GuideMode::Eval;  // the cache needs a guide whose outputs hold
  Trainer trainer(settings, pair.dataset, pair.task, pair.target, pair.guide, pair.metric,
                  pair.pairs);
  Recorder recorder;
  EXPECT_TRUE(trainer.run(recorder));
  Outcome outcome;
  outcome.steps = recorder.steps;
  for (const auto& p : pair.target->parameters()) outcome.weights.push_back(p.detach().clone());
  if (trainer.guide_cache()) outcome.hits = trainer.guide_cache()->hits();
  outcome.cache_status = trainer.guide_cache_status();
  return outcome;
}

CachedPair small_image_pair() {
  Params data, target, guide;
  data.set("train_subset", int64_t{128});
  data.set("validation_size", int64_t{0});
  target.set("depth", int64_t{3});
  target.set("width", int64_t{32});
  guide.set("channels", std::vector<int64_t>{4, 8});
  return CachedPair("fashion-mnist", data, "mlp", target, "convnet", guide);
}

CachedPair small_token_pair(const std::string& guide_plugin) {
  Params data, target, guide;
  data.set("train_size", int64_t{128});
  data.set("format", std::string("workbench"));  // short sequences keep this test quick
  data.set("max_length", int64_t{8});
  data.set("validation_size", int64_t{64});
  target.set("hidden", int64_t{16});
  guide.set(guide_plugin == "transformer" ? "width" : "hidden", int64_t{16});
  return CachedPair("copy-paste", data, "rnn", target, guide_plugin, guide);
}

// The cached outputs of an example are those the guide gave it in an earlier batch, where it sat at
// another row. The shipped guides' frozen forward passes are batch-invariant (oneDNN's inner
// product and convolutions, attention and normalisation per example; see
// plugins/architecture/common/Linear.h), so the cached run must train bit for bit as the uncached
// one: every step's losses and distances, and the final weights.
template <typename MakePair>
void expect_same_training_with_and_without_cache(MakePair make_pair) {
  Outcome plain = train(make_pair, {GuideCacheMode::Off});
  Outcome cached = train(make_pair, {GuideCacheMode::Auto});
  ASSERT_EQ(plain.steps.size(), 12u);
  ASSERT_EQ(cached.steps.size(), plain.steps.size());
  // Epochs 2 and 3 (8 steps) read the guide's outputs from the cache.
  EXPECT_EQ(cached.hits, 8) << cached.cache_status;
  for (size_t i = 0; i < plain.steps.size(); ++i) {
    EXPECT_EQ(cached.steps[i].total_loss, plain.steps[i].total_loss) << "step " << i + 1;
    EXPECT_EQ(cached.steps[i].distill_loss, plain.steps[i].distill_loss) << "step " << i + 1;
    EXPECT_EQ(cached.steps[i].pair_distances, plain.steps[i].pair_distances) << "step " << i + 1;
  }
  ASSERT_EQ(cached.weights.size(), plain.weights.size());
  for (size_t i = 0; i < plain.weights.size(); ++i) {
    EXPECT_TRUE(torch::equal(cached.weights[i], plain.weights[i])) << "target tensor " << i;
  }
}

TEST(GuideTapCache, ImagePairTrainsBitForBitAsWithoutTheCache) {
  expect_same_training_with_and_without_cache(small_image_pair);
}

TEST(GuideTapCache, TokenPairTrainsBitForBitAsWithoutTheCache) {
  expect_same_training_with_and_without_cache([] { return small_token_pair("transformer"); });
}

// `auto` keeps only the outputs of guides that declare batch invariance: a recurrent guide's
// cached outputs could differ from fresh ones in the last bits, so it runs uncached unless the
// config says `on`, and the log says why.
TEST(GuideTapCache, AutoLeavesOffAGuideThatDoesNotDeclareBatchInvariance) {
  auto rnn_guide = [] { return small_token_pair("rnn"); };
  Outcome automatic = train(rnn_guide, {GuideCacheMode::Auto});
  EXPECT_EQ(automatic.hits, 0);
  EXPECT_NE(automatic.cache_status.find("off, the guide does not declare batch-invariant"),
            std::string::npos)
      << automatic.cache_status;
  Outcome forced = train(rnn_guide, {GuideCacheMode::On});
  EXPECT_EQ(forced.hits, 8) << forced.cache_status;
}

// With no budget set, the budget is derived from the memory available, and the log says so.
TEST(GuideTapCache, AutoDerivesItsBudgetFromFreeMemory) {
  Outcome outcome = train(small_image_pair, {GuideCacheMode::Auto, /*budget_mb=*/0});
  EXPECT_EQ(outcome.hits, 8) << outcome.cache_status;
  EXPECT_NE(outcome.cache_status.find("MiB available"), std::string::npos)
      << outcome.cache_status;
  CacheBudget shared = default_cache_budget(4);
  EXPECT_NE(shared.source.find("shared by 4 runs"), std::string::npos) << shared.source;
  EXPECT_GT(shared.bytes, 0u);
  EXPECT_LE(shared.bytes, default_cache_budget(1).bytes / 3);  // free memory moves a little
}

// Stored in bfloat16, a float32 run's cached guide taps are rounded: half the memory, distances
// close to the uncached run's but not equal.
TEST(GuideTapCache, Bf16StorageHalvesTheMemoryAndRoundsTheTaps) {
  Outcome plain = train(small_image_pair, {GuideCacheMode::Off});
  Outcome full = train(small_image_pair, {GuideCacheMode::On});
  Outcome halved = train(small_image_pair, {GuideCacheMode::On, 64, /*bf16=*/true});
  EXPECT_EQ(halved.hits, 8) << halved.cache_status;
  EXPECT_NE(halved.cache_status.find("in bfloat16"), std::string::npos) << halved.cache_status;
  auto mib = [](const std::string& status) {
    return std::stod(status.substr(status.find("on, ") + 4));
  };
  EXPECT_LT(mib(halved.cache_status), mib(full.cache_status)) << halved.cache_status;
  // Epoch 1 is computed fresh; from epoch 2 on the rounded taps move the distances.
  const auto& last = halved.steps.back().pair_distances;
  const auto& exact = plain.steps.back().pair_distances;
  ASSERT_EQ(last.size(), exact.size());
  EXPECT_NE(last, exact);
  for (size_t p = 0; p < exact.size(); ++p) EXPECT_NEAR(last[p], exact[p], 0.02) << "pair " << p;
}

TEST(GuideTapCache, TurnsItselfOffWhenTheSplitDoesNotFit) {
  GuideTapCache cache(/*examples=*/1000, {1 << 20, "a test budget"}, {true}, true, false);
  NetworkOutput output;
  output.logits = torch::zeros({10, 10});
  output.taps = {torch::zeros({10, 512})};  // 1000 x (10 + 512) floats: about 2 MiB
  cache.store(torch::arange(10, torch::kLong), output);
  EXPECT_FALSE(cache.active());
  EXPECT_NE(cache.status().find("need 2 MiB, more than the budget of 1 MiB (a test budget)"),
            std::string::npos)
      << cache.status();
  EXPECT_FALSE(cache.lookup(torch::arange(10, torch::kLong), torch::kCPU).has_value());
}

TEST(GuideTapCache, ServesOnlyBatchesWhoseExamplesAreAllStored) {
  GuideTapCache cache(/*examples=*/8, {1 << 20, "a test budget"}, {true}, true, false);
  NetworkOutput output;
  output.logits = torch::arange(8, torch::kFloat).view({4, 2});
  output.taps = {torch::arange(12, torch::kFloat).view({4, 3})};
  cache.store(torch::tensor({6, 1, 3, 0}, torch::kLong), output);
  EXPECT_FALSE(cache.lookup(torch::tensor({1, 2}, torch::kLong), torch::kCPU).has_value());
  auto hit = cache.lookup(torch::tensor({3, 6}, torch::kLong), torch::kCPU);
  ASSERT_TRUE(hit.has_value());
  EXPECT_TRUE(torch::equal(hit->logits, output.logits.index_select(0, torch::tensor({2, 0}))));
  EXPECT_TRUE(torch::equal(hit->taps[0], output.taps[0].index_select(0, torch::tensor({2, 0}))));
  EXPECT_EQ(cache.hits(), 1);
}

TEST(GuideTapCache, KeepsOnlyTheTapsTrainingReads) {
  // 100 examples x 1000 floats of the unread tap would need 400 KB; the budget is 100 KB.
  GuideTapCache cache(/*examples=*/100, {100 << 10, "a test budget"}, {false, true}, false, false);
  NetworkOutput output{torch::zeros({2, 10}), {torch::zeros({2, 1000}), torch::ones({2, 3})}};
  cache.store(torch::tensor({0, 1}, torch::kLong), output);
  ASSERT_TRUE(cache.active()) << cache.status();
  auto hit = cache.lookup(torch::tensor({1}, torch::kLong), torch::kCPU);
  ASSERT_TRUE(hit.has_value());
  EXPECT_FALSE(hit->logits.defined());
  ASSERT_EQ(hit->taps.size(), 2u);
  EXPECT_FALSE(hit->taps[0].defined());
  EXPECT_TRUE(torch::equal(hit->taps[1], torch::ones({1, 3})));
}

TEST(GuideTapCache, ShapesThatChangeBetweenBatchesTurnItOff) {
  GuideTapCache cache(/*examples=*/8, {1 << 20, "a test budget"}, {true}, false, false);
  NetworkOutput first{torch::zeros({2, 2}), {torch::zeros({2, 5, 3})}};
  NetworkOutput second{torch::zeros({2, 2}), {torch::zeros({2, 7, 3})}};
  cache.store(torch::tensor({0, 1}, torch::kLong), first);
  EXPECT_TRUE(cache.active());
  cache.store(torch::tensor({2, 3}, torch::kLong), second);
  EXPECT_FALSE(cache.active());
  EXPECT_NE(cache.status().find("change shape"), std::string::npos) << cache.status();
}

}  // namespace
}  // namespace guidance
