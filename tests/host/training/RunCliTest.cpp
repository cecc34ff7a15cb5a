// `guidance run` as a user drives it: resume after SIGKILL and Ctrl-C, the trained-guide cache,
// and the refusals `guidance check` must make before anything trains.
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <thread>

#include "host/training/Checkpoint.h"
#include "tests/host/training/RunTestSupport.h"

namespace guidance {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::final_table;
using testing::parity_config;
using testing::spawn_cli;
using testing::wait_exit_code;
using testing::wait_for_file;

// The weights a run saved for its guide (<run dir>/guide.pt), by name, read into the guide of
// parity_config (a transformer of width 16 on parity strings of up to 10 bits).
std::map<std::string, torch::Tensor> saved_guide(const std::string& path) {
  auto parity = testing::built_plugins().dataset("parity");
  Params data = defaults_of(parity->info().params);
  data.set("max_length", int64_t{10});
  auto task = parity->open(data, DatasetContext{11, ""})->task();
  auto transformer = testing::built_plugins().architecture("transformer");
  Params size = defaults_of(transformer->info().params);
  size.set("width", int64_t{16});
  auto guide = transformer->build(task, size);
  load_weights(*guide, path);
  std::map<std::string, torch::Tensor> weights;
  for (const auto& item : guide->named_parameters()) weights[item.key()] = item.value().detach();
  return weights;
}

double largest_change(const std::map<std::string, torch::Tensor>& from,
                      const std::map<std::string, torch::Tensor>& to) {
  double largest = 0;
  for (const auto& [name, tensor] : from) {
    largest = std::max(largest, (to.at(name) - tensor).abs().max().item<double>());
  }
  return largest;
}

class RunCli : public ::testing::Test {
 protected:
  std::string write_config(const std::string& name, const std::string& text) {
    std::string path = directory_.file(name);
    testing::write_file(path, text);
    return path;
  }
  testing::TemporaryDirectory directory_;
};

TEST_F(RunCli, ResumeAfterSigkillEndsLikeAnUninterruptedRun) {
  std::string reference = write_config("reference.toml", parity_config(directory_.file("a"), "untrained", 200));
  testing::CommandResult uninterrupted = testing::run_cli("run --quiet '" + reference + "'");
  ASSERT_EQ(uninterrupted.exit_code, 0) << uninterrupted.err;

  // Killed at step 57, seven steps past the checkpoint of step 50, with their rows unflushed.
  std::string config = write_config("killed.toml", parity_config(directory_.file("b"), "untrained", 200));
  std::string run_dir = directory_.file("b") + "/parity-small";
  testing::CommandResult killed = testing::run_command(
      "GUIDANCE_KILL_AT=step:57 '" + testing::cli_path() + "' run --quiet '" + config + "'");
  ASSERT_EQ(killed.exit_code, 128 + SIGKILL) << killed.err;
  ASSERT_TRUE(fs::exists(run_dir + "/checkpoint.pt"));

  testing::CommandResult resumed = testing::run_cli("run '" + config + "' --resume");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_THAT(resumed.err, HasSubstr("resumed at step "));
  EXPECT_THAT(resumed.err, ::testing::Not(HasSubstr("resumed at step 200 of 200")));
  // Same final measures, printed with the same precision (the record paths differ: a vs b).
  std::string expected = final_table(uninterrupted);
  std::string actual = final_table(resumed);
  expected = expected.substr(0, expected.find(directory_.file("a")));
  actual = actual.substr(0, actual.find(directory_.file("b")));
  EXPECT_EQ(actual, expected);

  // The record holds every step exactly once.
  testing::CommandResult rows = testing::run_command(
      "/usr/bin/python3 -c \"import h5py; f = h5py.File('" + run_dir + "/run.h5', 'r'); "
      "s = list(f['training/step'][:]); assert s == list(range(1, 201)), s[:5]; "
      "print(f['provenance'].attrs['state'])\"");
  EXPECT_EQ(rows.exit_code, 0) << rows.err;
  EXPECT_THAT(rows.out, HasSubstr("completed"));
}

TEST_F(RunCli, CtrlCSavesACheckpointAndResumeFinishes) {
  std::string config = write_config("interrupt.toml", parity_config(directory_.file("c"), "untrained", 400));
  std::string run_dir = directory_.file("c") + "/parity-small";
  pid_t pid = spawn_cli({"run", config}, directory_.file("interrupt.log"));
  ASSERT_TRUE(wait_for_file(run_dir + "/checkpoint.pt", pid));
  kill(pid, SIGINT);
  int code = wait_exit_code(pid);
  std::string log = testing::read_file(directory_.file("interrupt.log"));
  ASSERT_EQ(code, 130) << log;
  EXPECT_THAT(log, HasSubstr("--resume"));
  testing::CommandResult resumed = testing::run_cli("run --quiet '" + config + "' --resume");
  EXPECT_EQ(resumed.exit_code, 0) << resumed.err;
}

TEST_F(RunCli, TrainedGuideIsCachedAndReused) {
  std::string output = directory_.file("cache");
  std::string first = write_config("first.toml", parity_config(output, "trained", 4));
  testing::CommandResult trained = testing::run_cli("run '" + first + "'");
  ASSERT_EQ(trained.exit_code, 0) << trained.err;
  EXPECT_THAT(trained.err, HasSubstr("guide: trained transformer, cached at"));

  std::string text = parity_config(output, "trained", 4);
  text.replace(text.find("parity-small"), 12, "parity-again");
  std::string second = write_config("second.toml", text);
  testing::CommandResult reused = testing::run_cli("run '" + second + "'");
  ASSERT_EQ(reused.exit_code, 0) << reused.err;
  EXPECT_THAT(reused.err, HasSubstr("guide: loaded trained transformer from"));
  EXPECT_THAT(reused.err, ::testing::Not(HasSubstr("guide: trained")));
  size_t cached = 0;
  for (const auto& entry : fs::directory_iterator(output + "/guide-cache")) cached += entry.path().extension() == ".pt";
  EXPECT_EQ(cached, 1u);
}

// [guide.init] grad_clip bounds the guide's own training: with SGD at a large step, a gradient
// norm clipped to 1e-9 leaves the guide where the architecture initialised it (the untrained
// guide of the same seed), while the same training unclipped moves it; the two trainings are
// cached apart.
TEST_F(RunCli, GuideInitGradClipBoundsTheGuidesOwnTraining) {
  const std::string output = directory_.file("clip");
  auto guide_after = [&](const std::string& name, const std::string& init,
                         const std::string& settings) {
    std::string text = parity_config(output, init, 2);
    text.replace(text.find("parity-small"), 12, name);
    if (!settings.empty()) text.replace(text.find("max_steps = 8\n"), 14, "max_steps = 8\n" + settings);
    testing::CommandResult ran = testing::run_cli("run --quiet '" + write_config(name + ".toml", text) + "'");
    EXPECT_EQ(ran.exit_code, 0) << ran.err;
    return saved_guide(output + "/" + name + "/guide.pt");
  };
  const auto initial = guide_after("untrained", "untrained", "");
  const std::string sgd = "optimizer = \"sgd\"\nlearning_rate = 0.5\n";
  const auto clipped = guide_after("clipped", "trained", sgd + "grad_clip = 1e-9\n");
  const auto unclipped = guide_after("unclipped", "trained", sgd);
  EXPECT_LT(largest_change(initial, clipped), 1e-7);
  EXPECT_GT(largest_change(initial, unclipped), 1e-3);
  size_t cached = 0;
  for (const auto& entry : fs::directory_iterator(output + "/guide-cache")) cached += entry.path().extension() == ".pt";
  EXPECT_EQ(cached, 2u);
}

TEST_F(RunCli, AGuideTrainingBatchLargerThanTheDataNamesTheGuideInitKey) {
  std::string text = parity_config(directory_.file("big-batch"), "trained", 4);
  text.replace(text.find("batch_size = 32\n"), 16, "batch_size = 1024\n");  // [guide.init]'s
  testing::CommandResult refused = testing::run_cli("run --quiet '" +
                                                    write_config("big.toml", text) + "'");
  EXPECT_EQ(refused.exit_code, 1) << refused.err;
  EXPECT_THAT(refused.err, HasSubstr("fewer than one step needs (guide.init.batch_size 1024)"));
}

TEST_F(RunCli, CtrlCWhileTheGuideTrainsIsContinuedByTheNextRun) {
  std::string output = directory_.file("guide-stop");
  std::string text = parity_config(output, "trained", 4);
  text.replace(text.find("max_steps = 8\n"), 14, "max_steps = 1000\n");
  std::string config = write_config("guide-stop.toml", text);
  pid_t pid = spawn_cli({"run", config}, directory_.file("guide-stop.log"));
  // The guide's checkpoint sits beside its future cache file.
  auto guide_checkpoint = [&]() -> std::string {
    std::error_code ignored;
    for (const auto& entry : fs::directory_iterator(output + "/guide-cache", ignored)) {
      if (entry.path().extension() == ".checkpoint") return entry.path().string();
    }
    return "";
  };
  std::string checkpoint;
  for (int i = 0; i < 1200 && checkpoint.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    checkpoint = guide_checkpoint();
  }
  ASSERT_FALSE(checkpoint.empty()) << testing::read_file(directory_.file("guide-stop.log"));
  kill(pid, SIGINT);
  int code = wait_exit_code(pid);
  std::string log = testing::read_file(directory_.file("guide-stop.log"));
  ASSERT_EQ(code, 130) << log;
  EXPECT_THAT(log, HasSubstr("stopped while training the guide, at step "));
  EXPECT_THAT(log, HasSubstr("is continued by running the same command again"));
  EXPECT_FALSE(fs::exists(output + "/parity-small/run.h5")) << "the run itself had not started";

  testing::CommandResult again = testing::run_cli("run '" + config + "'");
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_THAT(again.err, HasSubstr("guide: continuing its training at step "));
  EXPECT_THAT(again.err, ::testing::Not(HasSubstr("continuing its training at step 0 ")));
  EXPECT_THAT(again.err, HasSubstr("guide: trained transformer, cached at"));
  EXPECT_FALSE(fs::exists(checkpoint)) << "the guide's checkpoint goes once it is cached";
}

TEST_F(RunCli, CheckRefusesUnknownTapsListingTheRealOnes) {
  std::string text = parity_config(directory_.file("d"));
  text.replace(text.find("alpha = 0.5"), 11, "alpha = 0.5\nlayer_map = [[\"no-such-tap\", \"layer0\"]]");
  std::string config = write_config("taps.toml", text);
  testing::CommandResult result = testing::run_cli("check '" + config + "'");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr(config + ":29:"));
  EXPECT_THAT(result.err, HasSubstr("the guide has no tap 'no-such-tap'; its taps are '"));
}

TEST_F(RunCli, CheckRefusesANonDifferentiableGuidanceMetric) {
  std::string text = parity_config(directory_.file("e"));
  text.replace(text.find("alpha = 0.5"), 11, "alpha = 0.5\n[guidance.metric]\nplugin = \"mutual-knn\"");
  std::string config = write_config("knn.toml", text);
  testing::CommandResult result = testing::run_cli("check '" + config + "'");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("metric 'mutual-knn' (with these parameters) is not differentiable"));
  EXPECT_THAT(result.err, HasSubstr("linear-cka"));
}

TEST_F(RunCli, CheckRefusesDatasetParametersThatDoNotFitAsAConfigError) {
  std::string text = parity_config(directory_.file("f"));
  text.replace(text.find("max_length = 10"), 15, "max_length = 10\nmin_length = 12");
  std::string config = write_config("lengths.toml", text);
  testing::CommandResult result = testing::run_cli("check '" + config + "'");
  EXPECT_EQ(result.exit_code, 2) << result.err;
  EXPECT_THAT(result.err, HasSubstr(config + ":"));
  EXPECT_THAT(result.err, HasSubstr("dataset 'parity' cannot be opened with these parameters"));
  EXPECT_THAT(result.err, HasSubstr("min_length 12 exceeds max_length 10"));
}

TEST_F(RunCli, ExistingRecordIsNeverOverwrittenWithoutRestart) {
  std::string config = write_config("twice.toml", parity_config(directory_.file("f"), "untrained", 4));
  ASSERT_EQ(testing::run_cli("run --quiet '" + config + "'").exit_code, 0);
  testing::CommandResult again = testing::run_cli("run --quiet '" + config + "'");
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_THAT(again.err, HasSubstr("already exists: continue it with --resume"));
  EXPECT_EQ(testing::run_cli("run --quiet --restart '" + config + "'").exit_code, 0);
}

}  // namespace
}  // namespace guidance
