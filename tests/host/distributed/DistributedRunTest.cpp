// Whole distributed runs: processes of the real `guidance` binary on the loopback address.
#include <signal.h>

#include <chrono>
#include <cmath>
#include <map>

#include <torch/serialize.h>

#include "analysis/RecordReader.h"
#include "tests/host/distributed/DistributedTestSupport.h"
#include "tests/host/training/RunTestSupport.h"

namespace guidance {
namespace {

using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

// Float tolerances of the comparison with one process. The two runs compute the same sums in
// another order: each rank's matmuls see half the rows, CKA's Gram matrices are built from the
// gathered taps, and the gradient is the mean of two halves. float32 rounds each way differently
// (~1e-7 relative per operation); 12 steps carry that to ~1e-6 in the losses, so 1e-4 (relative,
// or absolute below 1) leaves margin, while a real difference (a wrong gradient scale, per-rank
// CKA, another batch order) moves them by 1e-2 or more. That holds for the block taps, which the
// pair below uses: the default module taps (pre-activation outputs) amplify rounding far more —
// two single-process runs of this pair differing only in their thread count part by 3e-3 in the
// guidance term within 12 steps — and would hide nothing this test looks for behind it. Weights are compared by how far training
// moved each tensor from its init (Δ): the runs' weights may differ by 1e-2 · |Δ| (norms). Float
// differences grow faster there than in the losses: Adam divides each coordinate's step by its
// own gradient scale, so a coordinate whose gradient is the small sum of large cancelling terms
// can step ±learning_rate either way (seen: 1e-3 on single elements, 2e-3 · |Δ| for a whole
// tensor, against 1e-5 for one step's gradient).
constexpr double kLossTolerance = 1e-4;
constexpr double kWeightTolerance = 1e-2;

/// The quickstart pair (6-layer FCN target, untrained CNN guide, linear CKA on Fashion-MNIST),
/// shortened: 512 train examples, a global batch of 64, `steps` steps.
std::string quickstart_pair(const std::string& output, int64_t steps, int64_t checkpoint_every,
                            const std::string& extra_run = "") {
  return R"([run]
name = "pair"
seed = 3
threads = 1
output = ")" + output + R"("
checkpoint_every = )" + std::to_string(checkpoint_every) + R"(
log_every = 1
)" + extra_run + R"(
[dataset]
plugin = "fashion-mnist"
train_subset = 512
validation_size = 256

[target]
plugin = "mlp"
depth = 6
width = 256

[guide]
plugin = "convnet"
channels = [16, 32, 64]

[guide.init]
plugin = "untrained"

[guidance]
alpha = 1.0
tap_set = "blocks"         # see kLossTolerance

[guidance.metric]
plugin = "linear-cka"

[train]
optimizer = "adam"
learning_rate = 0.001
batch_size = 64
max_steps = )" + std::to_string(steps) + R"(
eval_batch_size = 100
train_eval_size = 128

[record]
every = 0
at_end = true
probe_size = 32
)";
}

using Environment = std::vector<std::pair<std::string, std::string>>;

Environment rank_environment(int rank, int world, uint16_t port) {
  return {{"WORLD_SIZE", std::to_string(world)}, {"RANK", std::to_string(rank)},
          {"LOCAL_RANK", std::to_string(rank)}, {"MASTER_ADDR", "127.0.0.1"},
          {"MASTER_PORT", std::to_string(port)}};
}

/// Waits for a child until `limit`; @return its exit code, or -1 (then it is killed) on timeout.
int exit_code_within(pid_t pid, std::chrono::seconds limit) {
  const auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(pid, SIGKILL);
  testing::wait_exit_code(pid);
  return -1;
}

/// Starts `world` ranks of `guidance run CONFIG [arguments]`, logs to `<log>.<rank>`.
std::vector<pid_t> start_ranks(int world, const std::string& config, const std::string& log,
                               const std::vector<std::string>& arguments = {}) {
  const uint16_t port = testing::free_port();
  std::vector<pid_t> pids;
  std::vector<std::string> args{"run", config};
  args.insert(args.end(), arguments.begin(), arguments.end());
  for (int rank = 0; rank < world; ++rank) {
    pids.push_back(testing::spawn_cli(args, log + "." + std::to_string(rank),
                                      rank_environment(rank, world, port)));
  }
  return pids;
}

/// The model tensors of a checkpoint, by name.
std::map<std::string, torch::Tensor> checkpoint_model(const std::string& path) {
  torch::serialize::InputArchive archive;
  archive.load_from(path);
  std::map<std::string, torch::Tensor> tensors;
  for (const auto& key : archive.keys()) {
    torch::Tensor tensor;
    if (key.rfind("model.", 0) == 0 && archive.try_read(key, tensor)) tensors[key] = tensor;
  }
  return tensors;
}

class DistributedRun : public ::testing::Test {
 protected:
  std::string write(const std::string& name, const std::string& text) {
    testing::write_file(directory_.file(name), text);
    return directory_.file(name);
  }
  testing::TemporaryDirectory directory_;
};

TEST_F(DistributedRun, TwoProcessesTrainAsOneProcessOnTheGlobalBatch) {
  const std::string one = write("one.toml", quickstart_pair(directory_.file("one"), 12, 6));
  const std::string two = write("two.toml", quickstart_pair(directory_.file("two"), 12, 6));
  testing::CommandResult single = testing::run_cli("run --quiet '" + one + "'");
  ASSERT_EQ(single.exit_code, 0) << single.err;
  // The seeded initial weights: one step at learning rate 0.
  const std::string init = write(
      "init.toml", testing::replace_first(quickstart_pair(directory_.file("init"), 1, 1),
                                          "learning_rate = 0.001", "learning_rate = 0.0"));
  testing::CommandResult initial = testing::run_cli("run --quiet '" + init + "'");
  ASSERT_EQ(initial.exit_code, 0) << initial.err;
  std::vector<pid_t> ranks = start_ranks(2, two, directory_.file("two.log"));
  for (size_t rank = 0; rank < ranks.size(); ++rank) {
    ASSERT_EQ(exit_code_within(ranks[rank], std::chrono::seconds(300)), 0)
        << testing::read_file(directory_.file("two.log." + std::to_string(rank)));
  }
  EXPECT_THAT(testing::read_file(directory_.file("two.log.0")), HasSubstr("2 processes"));

  analysis::RecordReader single_record(directory_.file("one") + "/pair/run.h5");
  analysis::RecordReader double_record(directory_.file("two") + "/pair/run.h5");
  EXPECT_EQ(double_record.state(), RecordState::Completed);
  analysis::Table expected = single_record.training();
  analysis::Table actual = double_record.training();
  ASSERT_EQ(actual.rows(), 12u);
  ASSERT_EQ(expected.rows(), 12u);
  int compared = 0;
  for (const auto& column : expected.columns) {
    if (column.name == "step" || column.name == "epoch" || column.name == "learning_rate") continue;
    const auto& values = actual.column(column.name).numbers;
    for (size_t row = 0; row < values.size(); ++row) {
      double scale = std::max(1.0, std::abs(column.numbers[row]));
      EXPECT_NEAR(values[row], column.numbers[row], kLossTolerance * scale)
          << column.name << " at step " << row + 1;
      ++compared;
    }
  }
  EXPECT_GE(compared, 12 * 4);  // task, guidance, total and at least one pair distance
  // Sharded, reduced evaluations agree too.
  const analysis::Table expected_evaluation = single_record.evaluation();
  const analysis::Table actual_evaluation = double_record.evaluation();
  const auto& expected_losses = expected_evaluation.column("loss").numbers;
  const auto& actual_losses = actual_evaluation.column("loss").numbers;
  ASSERT_EQ(actual_losses.size(), expected_losses.size());
  for (size_t row = 0; row < expected_losses.size(); ++row) {
    EXPECT_NEAR(actual_losses[row], expected_losses[row], kLossTolerance) << "evaluation " << row;
  }

  auto expected_weights = checkpoint_model(directory_.file("one") + "/pair/checkpoint.pt");
  auto actual_weights = checkpoint_model(directory_.file("two") + "/pair/checkpoint.pt");
  ASSERT_FALSE(expected_weights.empty());
  ASSERT_EQ(actual_weights.size(), expected_weights.size());
  // Training moves the weights away from their init by Δ; the two runs' Δ agree per tensor.
  auto initial_weights = checkpoint_model(directory_.file("init") + "/pair/checkpoint.pt");
  for (const auto& [name, tensor] : expected_weights) {
    double moved = (tensor - initial_weights.at(name)).norm().item<double>();
    double difference = (actual_weights.at(name) - tensor).norm().item<double>();
    EXPECT_GT(moved, 0) << name;
    EXPECT_LE(difference, kWeightTolerance * moved) << name << " moved by " << moved;
  }
}

TEST_F(DistributedRun, AKilledRankStopsTheOtherAndTheWholeJobResumes) {
  const std::string config = write("kill.toml", quickstart_pair(directory_.file("kill"), 150, 10));
  std::vector<pid_t> ranks = start_ranks(2, config, directory_.file("kill.log"));
  // Killed once rank 0 has printed step 25: past the checkpoint at step 20.
  const std::string log = directory_.file("kill.log.0");
  const auto deadline = Clock::now() + std::chrono::seconds(300);
  while (Clock::now() < deadline && testing::read_file(log).find("step 25/") == std::string::npos) {
    int status = 0;
    ASSERT_EQ(waitpid(ranks[0], &status, WNOHANG), 0) << testing::read_file(log);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_THAT(testing::read_file(log), HasSubstr("step 25/"));
  kill(ranks[1], SIGKILL);
  testing::wait_exit_code(ranks[1]);
  const auto killed = Clock::now();
  EXPECT_EQ(exit_code_within(ranks[0], std::chrono::seconds(60)), 1) << testing::read_file(log);
  EXPECT_LT(Clock::now() - killed, std::chrono::seconds(30));
  EXPECT_THAT(testing::read_file(log), HasSubstr("distributed run, rank 0 of 2"));
  EXPECT_THAT(testing::read_file(log), HasSubstr("failed"));

  // One process may not continue what two began.
  testing::CommandResult alone = testing::run_cli("run --quiet '" + config + "' --resume");
  EXPECT_EQ(alone.exit_code, 1);
  EXPECT_THAT(alone.err, HasSubstr("written by a run of 2 process(es); this one has 1"));

  ranks = start_ranks(2, config, directory_.file("resume.log"), {"--resume"});
  for (size_t rank = 0; rank < ranks.size(); ++rank) {
    ASSERT_EQ(exit_code_within(ranks[rank], std::chrono::seconds(300)), 0)
        << testing::read_file(directory_.file("resume.log." + std::to_string(rank)));
  }
  EXPECT_THAT(testing::read_file(directory_.file("resume.log.0")), HasSubstr("resumed at step "));
  analysis::RecordReader record(directory_.file("kill") + "/pair/run.h5");
  EXPECT_EQ(record.state(), RecordState::Completed);
  const analysis::Table training = record.training();
  const auto& steps = training.column("step").numbers;
  ASSERT_EQ(steps.size(), 150u);  // rows past the checkpoint were dropped, then written again
  for (size_t row = 0; row < steps.size(); ++row) EXPECT_EQ(steps[row], row + 1.0);
}

TEST_F(DistributedRun, AMissingRendezvousFailsInTimeNamingTheAddress) {
  const std::string config =
      write("alone.toml", quickstart_pair(directory_.file("alone"), 4, 2,
                                          "\n[run.distributed]\ntimeout = 2\n"));
  const uint16_t port = testing::free_port();
  const auto started = Clock::now();
  testing::CommandResult result = testing::run_command(
      "WORLD_SIZE=2 RANK=1 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(port) + " '" +
      testing::cli_path() + "' run --quiet '" + config + "'");
  EXPECT_LT(Clock::now() - started, std::chrono::seconds(60));
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("rank 1 of 2"));
  EXPECT_THAT(result.err, HasSubstr("no rendezvous at 127.0.0.1:" + std::to_string(port)));
  EXPECT_THAT(result.err, HasSubstr("within 2 s"));
}

}  // namespace
}  // namespace guidance
