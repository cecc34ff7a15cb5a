// Running a study as a user does: --dry-run, --jobs, shards started together with one killed,
// and the emitted Slurm script run by bash with the SLURM_* variables set by hand.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "host/recording/Hdf5.h"
#include "host/study/RunSelection.h"
#include "host/sweep/Shards.h"
#include "host/sweep/SweepCell.h"
#include "tests/support/TestSupport.h"

namespace guidance {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

/// A tiny unguided parity run (an RNN of 8 units): seconds per run.
std::string tiny_config(const std::string& output, const std::string& sweep, int64_t steps = 20) {
  return R"([run]
name = "study"
threads = 1
output = ")" + output + R"("
checkpoint_every = 5
log_every = 1

[dataset]
plugin = "parity"
train_size = 128
validation_size = 32
test_size = 32
max_length = 6

[target]
plugin = "rnn"
hidden = 8

[train]
batch_size = 16
max_steps = )" + std::to_string(steps) + R"(
train_eval_size = 32

[record]
probe_size = 16
at_end = false

[sweep]
)" + sweep;
}

/// @return the steps in a record's training table, in file order.
std::vector<int64_t> recorded_steps(const std::string& record) {
  hdf5::Handle file = hdf5::checked(H5Fopen(record.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT),
                                    H5Fclose, record);
  return hdf5::read_integers(file.get(), "training/step", record);
}

std::vector<int64_t> one_to(int64_t n) {
  std::vector<int64_t> steps;
  for (int64_t i = 1; i <= n; ++i) steps.push_back(i);
  return steps;
}

/// Starts `guidance ARGS` with stderr to `log` (or, when `err_pipe` is given, into a pipe whose
/// read end is stored there) and stdout discarded. @return its pid.
pid_t spawn_cli(const std::vector<std::string>& args, const std::string& log,
                int* err_pipe = nullptr) {
  int ends[2] = {-1, -1};
  if (err_pipe != nullptr && pipe(ends) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    if (err_pipe != nullptr) {
      dup2(ends[1], 2);
      close(ends[0]);
      close(ends[1]);
    } else {
      FILE* err = freopen(log.c_str(), "w", stderr);
      (void)err;
    }
    FILE* out = freopen("/dev/null", "w", stdout);
    (void)out;
    std::string cli = testing::cli_path();
    std::vector<std::string> copies = args;
    std::vector<char*> argv = {cli.data()};
    for (auto& arg : copies) argv.push_back(arg.data());
    argv.push_back(nullptr);
    execv(cli.c_str(), argv.data());
    _exit(127);
  }
  if (err_pipe != nullptr) {
    close(ends[1]);
    *err_pipe = ends[0];
  }
  return pid;
}

int wait_exit_code(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/// Reads `fd` until what it read contains `text` (and `also`, when given).
/// @return whether it did before the end of file
bool read_until(int fd, const std::string& text, const std::string& also = "") {
  std::string buffer;
  char chunk[512];
  while (buffer.find(text) == std::string::npos || buffer.find(also) == std::string::npos) {
    ssize_t got = read(fd, chunk, sizeof(chunk));
    if (got <= 0) return false;
    buffer.append(chunk, static_cast<size_t>(got));
  }
  return true;
}

class StudyCli : public ::testing::Test {
 protected:
  std::string write_config(const std::string& name, const std::string& text) {
    std::string path = directory_.file(name);
    testing::write_file(path, text);
    return path;
  }
  std::string run_dir(const std::string& name) const {
    return directory_.file("results") + "/study/" + name;
  }
  testing::TemporaryDirectory directory_;
};

TEST_F(StudyCli, DryRunListsNewPartialAndDoneRunsWithoutLoadingData) {
  // Runs 1 and 2 read Fashion-MNIST from a folder that does not exist: any data load would fail.
  std::string config = write_config("dry.toml", tiny_config(directory_.file("results"), R"(
"dataset" = [{ plugin = "parity", train_size = 128, validation_size = 32, test_size = 32, max_length = 6 },
             { plugin = "fashion-mnist", directory = "/nonexistent/fashion-a" },
             { plugin = "fashion-mnist", directory = "/nonexistent/fashion-b" }]
"target.hidden" = [8]
)"));
  testing::CommandResult first = testing::run_cli("run --quiet '" + config + "' --shard 0/3");
  ASSERT_EQ(first.exit_code, 0) << first.err;
  testing::write_file(run_dir("dataset=fashion-mnist-2,hidden=8") + "/checkpoint.pt", "");

  testing::CommandResult listed = testing::run_cli("run '" + config + "' --dry-run");
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_THAT(listed.out, ::testing::ContainsRegex("study/dataset=parity,hidden=8 +done +dataset = "
                                                   "\\{ max_length = 6, plugin = \"parity\""));
  EXPECT_THAT(listed.out, ::testing::ContainsRegex("study/dataset=fashion-mnist-2,hidden=8 +partial"));
  EXPECT_THAT(listed.out, ::testing::ContainsRegex("study/dataset=fashion-mnist-3,hidden=8 +new"));
  EXPECT_THAT(listed.out, Not(HasSubstr("target.hidden")));  // the same in every run
  EXPECT_THAT(listed.out, HasSubstr("3 runs: 1 done, 1 partial, 1 new"));
  EXPECT_FALSE(fs::exists(run_dir("dataset=fashion-mnist-3,hidden=8")));

  testing::CommandResult shard = testing::run_cli("run '" + config + "' --dry-run --shard=1/2");
  ASSERT_EQ(shard.exit_code, 0) << shard.err;
  EXPECT_THAT(shard.out, HasSubstr("1 run of 3: 0 done, 1 partial, 0 new"));
}

TEST_F(StudyCli, JobsTrainEveryRunReportAFailedOneAndSkipDoneRuns) {
  // batch_size 4096 exceeds the 128-example train split: that run fails when it starts training.
  std::string config = write_config("jobs.toml", tiny_config(directory_.file("results"),
                                                             "\"train.batch_size\" = [8, 16, 4096, 32]\n"));
  testing::CommandResult result = testing::run_cli("run '" + config + "' --jobs 2");
  ASSERT_EQ(result.exit_code, 1) << result.err;
  std::string failed_log = run_dir("batch_size=4096") + "/log.txt";
  EXPECT_THAT(result.err, HasSubstr("run study/batch_size=4096 FAILED (exit 1)"));
  EXPECT_THAT(result.err, HasSubstr("log: " + failed_log));
  EXPECT_THAT(testing::read_file(failed_log), HasSubstr("batch"));
  EXPECT_THAT(result.err, HasSubstr("study study: 3/4 done, 0 running, 1 failed"));
  for (const char* name : {"batch_size=8", "batch_size=16", "batch_size=32"}) {
    EXPECT_EQ(run_state(run_dir(name)), RunState::Done) << name;
    EXPECT_EQ(recorded_steps(run_dir(name) + "/run.h5"), one_to(20)) << name;
    EXPECT_TRUE(fs::exists(run_dir(name) + "/log.txt")) << name;
    std::optional<SweepCell> cell = read_sweep_cell(run_dir(name));
    ASSERT_TRUE(cell.has_value()) << name;
    EXPECT_EQ(cell->study, "study");
    EXPECT_EQ(cell->runs, 4u);
  }

  testing::CommandResult again = testing::run_cli("run '" + config + "' --jobs=2 --threads 1");
  EXPECT_EQ(again.exit_code, 1) << again.err;
  EXPECT_THAT(again.out, ::testing::ContainsRegex("study/batch_size=8 +done earlier \\(skipped\\)"));
  EXPECT_THAT(again.err, HasSubstr("4 runs, 3 already done; training 1 with 1 job of 1 thread"));
  EXPECT_THAT(again.err, HasSubstr("run study/batch_size=4096 FAILED"));
}

// Each --jobs child reads the config again: it must get the parent's overrides, multirun axes
// included, or it would train other settings than the parent listed (or another sweep).
TEST_F(StudyCli, OverridesReachTheJobsChildren) {
  std::string config = write_config("overrides.toml", tiny_config(directory_.file("results"),
                                                                    "\"run.seed\" = [0]\n"));
  testing::CommandResult result =
      testing::run_cli("run '" + config + "' --jobs 2 train.max_steps=6 -m train.batch_size=8,16");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  for (const char* name : {"seed=0,batch_size=8", "seed=0,batch_size=16"}) {
    EXPECT_EQ(run_state(run_dir(name)), RunState::Done) << name;
    EXPECT_EQ(recorded_steps(run_dir(name) + "/run.h5"), one_to(6)) << name;
  }
  testing::CommandResult slurm = testing::run_cli("run '" + config +
                                                  "' --emit-slurm train.max_steps=6 -m "
                                                  "train.batch_size=8,16");
  ASSERT_EQ(slurm.exit_code, 0) << slurm.err;
  EXPECT_THAT(slurm.out, HasSubstr("' '--multirun' 'train.max_steps=6' 'train.batch_size=8,16' "
                                   "--shard slurm --resume"));
}

TEST_F(StudyCli, ADeclaredBaselineRunsOncePerSeedAndIsEveryGuidedCellsBaseline) {
  std::string config = write_config(
      "baseline.toml", tiny_config(directory_.file("results"), R"("run.seed" = [0, 1]
"guide.plugin" = ["rnn", "lstm"]
[sweep.baseline]
"guidance.enabled" = false
)", 6));
  testing::CommandResult result = testing::run_cli("run '" + config + "' --jobs 2");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  for (const char* name : {"baseline,seed=0", "baseline,seed=1", "seed=0,plugin=rnn",
                           "seed=1,plugin=lstm"}) {
    EXPECT_EQ(run_state(run_dir(name)), RunState::Done) << name;
  }
  EXPECT_FALSE(fs::exists(run_dir("baseline,seed=0,plugin=rnn")));
  EXPECT_THAT(testing::read_file(run_dir("baseline,seed=1") + "/sweep-cell.toml"),
              HasSubstr("\"guidance.enabled\" = \"false\""));

  testing::CommandResult summary =
      testing::run_cli("summarize '" + directory_.file("results") + "/study'");
  ASSERT_EQ(summary.exit_code, 0) << summary.err;
  EXPECT_THAT(summary.out, HasSubstr("6 runs"));
  EXPECT_THAT(summary.out, HasSubstr("(baseline)"));
  // Both guided cells found the one baseline: each has a Δ, none says "no baseline".
  EXPECT_THAT(summary.out, Not(HasSubstr("no baseline")));
  EXPECT_THAT(summary.out, HasSubstr("guide.plugin"));
}

TEST_F(StudyCli, SigtermStopsTheJobsWhichResumeLater) {
  std::string config = write_config("stop.toml", tiny_config(directory_.file("results"),
                                                             "\"run.seed\" = [0, 1]\n", 400));
  int err = -1;
  pid_t pid = spawn_cli({"run", config, "--jobs", "2"}, "", &err);
  ASSERT_GE(err, 0);
  // Stop once both children train: the parent reports each one's first step.
  ASSERT_TRUE(read_until(err, "run study/seed=0 training: 400 steps", "run study/seed=1 training"));
  kill(pid, SIGTERM);
  std::string rest;
  char chunk[512];
  for (ssize_t got; (got = read(err, chunk, sizeof(chunk))) > 0;) rest.append(chunk, static_cast<size_t>(got));
  close(err);
  ASSERT_EQ(wait_exit_code(pid), 130) << rest;
  EXPECT_THAT(rest, HasSubstr("run study/seed=0 interrupted, checkpoint saved"));
  EXPECT_THAT(rest, HasSubstr("run study/seed=1 interrupted, checkpoint saved"));

  testing::CommandResult resumed = testing::run_cli("run '" + config + "' --jobs 2");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  for (const char* name : {"seed=0", "seed=1"}) {
    EXPECT_EQ(run_state(run_dir(name)), RunState::Done) << name;
    EXPECT_EQ(recorded_steps(run_dir(name) + "/run.h5"), one_to(400)) << name;
    EXPECT_THAT(testing::read_file(run_dir(name) + "/log.txt"), HasSubstr("resumed at step"));
  }
}

TEST_F(StudyCli, ThreeShardsWithOneKilledAndRestartedTrainEveryRunOnce) {
  std::string config = write_config("shards.toml", tiny_config(directory_.file("results"),
                                                               "\"run.seed\" = [0, 1, 2, 3, 4, 5]\n", 150));
  int killed_err = -1;
  pid_t shard0 = spawn_cli({"run", config, "--shard", "0/3"}, directory_.file("shard0.log"));
  pid_t shard1 = spawn_cli({"run", config, "--shard", "1/3"}, "", &killed_err);
  pid_t shard2 = spawn_cli({"run", config, "--shard=2/3"}, directory_.file("shard2.log"));
  ASSERT_GE(killed_err, 0);
  // Shard 1 is killed once it has printed a training step of its first run.
  ASSERT_TRUE(read_until(killed_err, " step "));
  kill(shard1, SIGKILL);
  EXPECT_EQ(wait_exit_code(shard1), 128 + SIGKILL);
  close(killed_err);
  EXPECT_EQ(wait_exit_code(shard0), 0) << testing::read_file(directory_.file("shard0.log"));
  EXPECT_EQ(wait_exit_code(shard2), 0) << testing::read_file(directory_.file("shard2.log"));

  testing::CommandResult restarted = testing::run_cli("run '" + config + "' --shard 1/3 --resume");
  ASSERT_EQ(restarted.exit_code, 0) << restarted.err;
  for (int seed = 0; seed < 6; ++seed) {
    std::string name = "seed=" + std::to_string(seed);
    EXPECT_EQ(run_state(run_dir(name)), RunState::Done) << name;
    EXPECT_EQ(recorded_steps(run_dir(name) + "/run.h5"), one_to(150)) << name;
    std::optional<SweepCell> cell = read_sweep_cell(run_dir(name));
    ASSERT_TRUE(cell.has_value());
    EXPECT_EQ(cell->seed, static_cast<uint64_t>(seed));
    EXPECT_EQ(cell->replicate, std::optional<std::string>("run.seed"));
    EXPECT_TRUE(cell->cell().empty());
  }
  testing::CommandResult listed = testing::run_cli("run '" + config + "' --dry-run");
  EXPECT_THAT(listed.out, HasSubstr("6 runs: 6 done, 0 partial, 0 new"));
}

TEST_F(StudyCli, ARunAnotherProcessTrainsIsReportedAndSkipped) {
  std::string config = write_config("busy.toml", tiny_config(directory_.file("results"),
                                                             "\"run.seed\" = [0, 1]\n", 100000));
  std::string quick = write_config("quick.toml", tiny_config(directory_.file("results"),
                                                             "\"run.seed\" = [0, 1]\n"));
  int err = -1;
  pid_t holder = spawn_cli({"run", config, "--shard", "0/2"}, "", &err);
  ASSERT_GE(err, 0);
  ASSERT_TRUE(read_until(err, " step "));  // seed=0 is training: its folder is locked

  // The same study (short runs): seed=0 is busy, seed=1 trains.
  testing::CommandResult sequential = testing::run_cli("run '" + quick + "' --resume");
  EXPECT_EQ(sequential.exit_code, 1) << sequential.err;
  EXPECT_THAT(sequential.err, HasSubstr("skipped run study/seed=0: "));
  EXPECT_THAT(sequential.err, HasSubstr("1 run was skipped because another process holds it"));
  EXPECT_EQ(run_state(run_dir("seed=1")), RunState::Done);

  testing::CommandResult jobs = testing::run_cli("run '" + quick + "' --jobs 2");
  EXPECT_EQ(jobs.exit_code, 1) << jobs.err;
  EXPECT_THAT(jobs.err, HasSubstr("run study/seed=0 busy: "));
  EXPECT_THAT(jobs.out, ::testing::ContainsRegex("study/seed=1 +done earlier \\(skipped\\)"));

  kill(holder, SIGTERM);
  char chunk[512];
  while (read(err, chunk, sizeof(chunk)) > 0) {
  }
  close(err);
  EXPECT_EQ(wait_exit_code(holder), 130);
}

TEST_F(StudyCli, EmittedSlurmScriptRunsTheShardOfItsArrayTask) {
  std::string config = write_config("slurm.toml", tiny_config(directory_.file("results"),
                                                              "\"run.seed\" = [0, 1, 2]\n"));
  testing::CommandResult emitted = testing::run_cli(
      "run '" + config + "' --emit-slurm --partition=short --time 0:10:00 --cpus 1 --gpus 1");
  ASSERT_EQ(emitted.exit_code, 0) << emitted.err;
  EXPECT_THAT(emitted.out, HasSubstr("#SBATCH --array=0-2\n"));
  EXPECT_THAT(emitted.out, HasSubstr("#SBATCH --partition=short\n"));
  EXPECT_THAT(emitted.out, HasSubstr("#SBATCH --time=0:10:00\n"));
  EXPECT_THAT(emitted.out, HasSubstr("#SBATCH --cpus-per-task=1\n"));
  EXPECT_THAT(emitted.out, HasSubstr("#SBATCH --gpus=1\n"));
  EXPECT_THAT(emitted.out, HasSubstr("'" + fs::canonical(testing::cli_path()).string() + "'"));
  EXPECT_THAT(emitted.out, HasSubstr(" run '" + fs::absolute(config).string() +
                                     "' --shard slurm --resume --threads 1"));
  std::string script = directory_.file("study.sbatch");
  testing::write_file(script, emitted.out);

  // An array that starts at 10: task 11 is shard 1 of 3.
  testing::CommandResult task = testing::run_command(
      "SLURM_ARRAY_TASK_ID=11 SLURM_ARRAY_TASK_COUNT=3 SLURM_ARRAY_TASK_MIN=10 bash '" + script + "'");
  ASSERT_EQ(task.exit_code, 0) << task.err;
  EXPECT_EQ(run_state(run_dir("seed=0")), RunState::New);
  EXPECT_EQ(run_state(run_dir("seed=1")), RunState::Done);
  EXPECT_EQ(run_state(run_dir("seed=2")), RunState::New);

  testing::CommandResult missing = testing::run_command(
      "SLURM_ARRAY_TASK_ID=1 SLURM_ARRAY_TASK_MIN=0 bash '" + script + "'");
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.err, HasSubstr("SLURM_ARRAY_TASK_COUNT"));
  testing::CommandResult outside = testing::run_command(
      "SLURM_ARRAY_TASK_ID=3 SLURM_ARRAY_TASK_COUNT=3 SLURM_ARRAY_TASK_MIN=0 bash '" + script + "'");
  EXPECT_EQ(outside.exit_code, 2);
  EXPECT_THAT(outside.err, HasSubstr("SLURM_ARRAY_TASK_ID=3 is not among the 3 tasks"));
}

TEST_F(StudyCli, SweepWithoutARunNameIsAConfigErrorNamingTheKey) {
  std::string text = tiny_config(directory_.file("results"), "\"run.seed\" = [0, 1]\n");
  text.replace(text.find("name = \"study\"\n"), 15, "");
  std::string config = write_config("nameless.toml", text);
  testing::CommandResult result = testing::run_cli("run '" + config + "' --dry-run");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("nameless.toml:1:1: missing required key 'run.name'"));
  EXPECT_FALSE(fs::exists(directory_.file("results")));
}

TEST_F(StudyCli, ABaseConfigErrorIsReportedBeforeTheOtherRunsAreExpanded) {
  // 100 000 runs, every odd one of which cannot even be expanded ('target' = 3 has no key
  // 'hidden'): expanding them all first, as this once did, would report that instead.
  std::string seeds = "0", steps = "1";
  for (int i = 1; i < 1000; ++i) seeds += ", " + std::to_string(i);
  for (int i = 2; i <= 50; ++i) steps += ", " + std::to_string(i);
  std::string sweep = "\"run.seed\" = [" + seeds + "]\n\"train.max_steps\" = [" + steps +
                      "]\n\"target\" = [{ plugin = \"rnn\" }, 3]\n\"target.hidden\" = [8]\n";
  std::string valid = tiny_config(directory_.file("results"), sweep);
  std::string config = write_config(
      "base.toml", testing::replace_first(valid, "batch_size = 16", "batch_size = \"sixteen\""));
  for (const char* command : {"check '", "run --dry-run '", "run --emit-slurm '"}) {
    testing::CommandResult result = testing::run_cli(command + config + "'");
    EXPECT_EQ(result.exit_code, 2) << command;
    EXPECT_THAT(result.err, HasSubstr("base.toml:20:14: key 'train.batch_size'")) << command;
    EXPECT_THAT(result.out, Not(HasSubstr("study/seed=0"))) << command;
  }
  // With the base fixed, run 0 is checked and listed before run 1 is expanded and refused.
  testing::write_file(config, valid);
  testing::CommandResult checked = testing::run_cli("check '" + config + "'");
  EXPECT_EQ(checked.exit_code, 2);
  EXPECT_THAT(checked.out, HasSubstr("ok  study/seed=0,max_steps=1,target=rnn,hidden=8: parity"));
  EXPECT_THAT(checked.err, HasSubstr("sweep axis 'target.hidden': 'target' is not a table"));
  testing::CommandResult listed = testing::run_cli("run --dry-run '" + config + "'");
  EXPECT_EQ(listed.exit_code, 2);
  EXPECT_THAT(listed.out,
              ::testing::ContainsRegex("study/seed=0,max_steps=1,target=rnn,hidden=8 +new"));
  EXPECT_FALSE(fs::exists(directory_.file("results")));
}

TEST_F(StudyCli, OptionsAreCheckedBeforeAnythingRuns) {
  std::string config = write_config("opts.toml", tiny_config(directory_.file("results"),
                                                             "\"run.seed\" = [0]\n"));
  testing::CommandResult jobs = testing::run_cli("run '" + config + "' --jobs 0");
  EXPECT_EQ(jobs.exit_code, 2);
  EXPECT_THAT(jobs.err, HasSubstr("--jobs: must be at least 1"));
  testing::CommandResult typo = testing::run_cli("run '" + config + "' --job 2");
  EXPECT_EQ(typo.exit_code, 2);
  EXPECT_THAT(typo.err, HasSubstr("did you mean '--jobs'"));
  testing::CommandResult stray = testing::run_cli("run '" + config + "' --partition p");
  EXPECT_EQ(stray.exit_code, 2);
  EXPECT_THAT(stray.err, HasSubstr("--partition requires --emit-slurm"));
  testing::CommandResult slurm = testing::run_command("env -u SLURM_ARRAY_TASK_ID '" +
                                                      testing::cli_path() + "' run '" + config +
                                                      "' --shard slurm");
  EXPECT_EQ(slurm.exit_code, 2);
  EXPECT_THAT(slurm.err, HasSubstr("SLURM_ARRAY_TASK_ID"));
}

}  // namespace
}  // namespace guidance
