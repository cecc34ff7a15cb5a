#include "host/training/GuideTapCache.h"

#include "host/config/Config.h"
#include "host/training/LayerMap.h"
#include "host/training/Trainer.h"
#include "tests/support/TestSupport.h"

namespace guidance {
namespace {

/// A guided pair built from the real plugins, on a small train split, 4 steps per epoch.
struct CachedPair {
  CachedPair(const std::string& dataset_name, Params data, const std::string& target_name,
             Params target_params, const std::string& guide_name, Params guide_params) {
    const PluginCatalog& catalog = testing::built_plugins();
    auto dataset_plugin = catalog.dataset(dataset_name);
    Params full = defaults_of(dataset_plugin->info().params);
    for (const auto& [key, value] : data.values()) full.set(key, value);
    dataset = dataset_plugin->open(full, DatasetContext{5, "."});
    task = dataset->task();
    torch::manual_seed(3);
    auto build = [&](const std::string& name, const Params& params) {
      auto plugin = catalog.architecture(name);
      Params all = defaults_of(plugin->info().params);
      for (const auto& [key, value] : params.values()) all.set(key, value);
      return plugin->build(task, all);
    };
    target = build(target_name, target_params);
    guide = build(guide_name, guide_params);
    auto metric_plugin = catalog.metric("linear-cka");
    metric = metric_plugin->create(defaults_of(metric_plugin->info().params));
    pairs = uniform_layer_map(guide->taps(), target->taps());
  }
  std::shared_ptr<Dataset> dataset;
  TaskSpec task;
  std::shared_ptr<Network> target, guide;
  std::shared_ptr<Metric> metric;
  std::vector<TapPair> pairs;
};

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

template <typename MakePair>
Outcome train(MakePair make_pair, int64_t cache_mb) {
  torch::set_num_threads(1);
  auto pair = make_pair();
  TrainerSettings settings;
  settings.train.batch_size = 32;
  settings.train.epochs = 3;
  settings.train.learning_rate = 3e-3;
  settings.train.train_eval_size = 0;
  settings.seed = 4;
  settings.guidance.distill_weight = 0.5;  // the cached logits are used too
  settings.guidance.guide_cache_mb = cache_mb;
  settings.guidance.guide_mode = GuideMode::Eval;  // the cache needs a guide whose outputs hold
  Trainer trainer(settings, pair.dataset, pair.task, pair.target, pair.guide, pair.metric,
                  pair.pairs);
  Recorder recorder;
  EXPECT_TRUE(trainer.run(recorder));
  Outcome outcome;
  outcome.steps = recorder.steps;
  for (const auto& p : pair.target->parameters()) outcome.weights.push_back(p.detach().clone());
  if (trainer.guide_cache()) {
    outcome.hits = trainer.guide_cache()->hits();
    outcome.cache_status = trainer.guide_cache()->status();
  }
  return outcome;
}

// The cached outputs of an example are those the guide gave it in an earlier batch, where it sat at
// another row. The shipped guides' frozen forward passes are batch-invariant (oneDNN's inner
// product and convolutions, attention and normalisation per example; see
// plugins/architecture/common/Linear.h), so the cached run must train bit for bit as the uncached
// one: every step's losses and distances, and the final weights.
template <typename MakePair>
void expect_same_training_with_and_without_cache(MakePair make_pair) {
  Outcome plain = train(make_pair, 0);
  Outcome cached = train(make_pair, 64);
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
  expect_same_training_with_and_without_cache([] {
    Params data, target, guide;
    data.set("train_subset", int64_t{128});
    data.set("validation_size", int64_t{0});
    target.set("depth", int64_t{3});
    target.set("width", int64_t{32});
    guide.set("channels", std::vector<int64_t>{4, 8});
    return CachedPair("fashion-mnist", data, "mlp", target, "convnet", guide);
  });
}

TEST(GuideTapCache, TokenPairTrainsBitForBitAsWithoutTheCache) {
  expect_same_training_with_and_without_cache([] {
    Params data, target, guide;
    data.set("train_size", int64_t{128});
    data.set("format", std::string("workbench"));  // short sequences keep this test quick
    data.set("max_length", int64_t{8});
    data.set("validation_size", int64_t{64});
    target.set("hidden", int64_t{16});
    guide.set("width", int64_t{16});
    return CachedPair("copy-paste", data, "rnn", target, "transformer", guide);
  });
}

TEST(GuideTapCache, TurnsItselfOffWhenTheSplitDoesNotFit) {
  GuideTapCache cache(/*examples=*/1000, /*budget_bytes=*/1 << 20, {true}, true);
  NetworkOutput output;
  output.logits = torch::zeros({10, 10});
  output.taps = {torch::zeros({10, 512})};  // 1000 x (10 + 512) floats: about 2 MiB
  cache.store(torch::arange(10, torch::kLong), output);
  EXPECT_FALSE(cache.active());
  EXPECT_NE(cache.status().find("need 2 MiB"), std::string::npos) << cache.status();
  EXPECT_FALSE(cache.lookup(torch::arange(10, torch::kLong), torch::kCPU).has_value());
}

TEST(GuideTapCache, ServesOnlyBatchesWhoseExamplesAreAllStored) {
  GuideTapCache cache(/*examples=*/8, /*budget_bytes=*/1 << 20, {true}, true);
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
  GuideTapCache cache(/*examples=*/100, /*budget_bytes=*/100 << 10, {false, true}, false);
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
  GuideTapCache cache(/*examples=*/8, /*budget_bytes=*/1 << 20, {true}, false);
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
