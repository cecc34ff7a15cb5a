// What a run must survive (docs/reliability.md): kills at exact points, locked run directories,
// damaged or missing files, a full disk, and configs that would write outside run.output or
// allocate without bound. Kills and stops are placed by GUIDANCE_KILL_AT / GUIDANCE_STOP_AT_STEP,
// never by a timer.
#include <signal.h>
#include <sys/stat.h>

#include <fstream>

#include "analysis/RecordReader.h"
#include "host/common/DirectoryLock.h"
#include "host/common/Errors.h"
#include "host/recording/RecordFormat.h"
#include "tests/host/training/RunTestSupport.h"

namespace guidance {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::final_table;
using testing::parity_config;

constexpr int kKilled = 128 + SIGKILL;

class RunSafety : public ::testing::Test {
 protected:
  std::string write_config(const std::string& name, const std::string& text) {
    std::string path = directory_.file(name);
    testing::write_file(path, text);
    return path;
  }

  /// `guidance ARGUMENTS` with environment assignments (e.g. "GUIDANCE_KILL_AT=finish") first.
  static testing::CommandResult cli(const std::string& arguments, const std::string& env = "") {
    return testing::run_command(env + " '" + testing::cli_path() + "' " + arguments);
  }

  /// The comparison table without the record paths, which differ between output folders.
  static std::string figures(const testing::CommandResult& result, const std::string& output) {
    std::string table = final_table(result);
    return table.substr(0, table.find(output));
  }

  /// The 60-step parity run, uninterrupted, in folder "a": what interrupted runs must end like.
  testing::CommandResult uninterrupted_run() {
    return cli("run '" +
               write_config("reference.toml", parity_config(directory_.file("a"), "untrained", 60)) +
               "'");
  }

  testing::TemporaryDirectory directory_;
};

/// Every value of two records of the same run, compared exactly: rows, final rows, snapshots.
void expect_same_record(const std::string& expected_path, const std::string& actual_path) {
  analysis::RecordReader expected(expected_path), actual(actual_path);
  for (auto table : {&analysis::RecordReader::training, &analysis::RecordReader::evaluation}) {
    analysis::Table a = (expected.*table)(), b = (actual.*table)();
    ASSERT_EQ(a.rows(), b.rows());
    ASSERT_EQ(a.columns.size(), b.columns.size());
    for (size_t c = 0; c < a.columns.size(); ++c) {
      EXPECT_EQ(a.columns[c].texts, b.columns[c].texts) << a.columns[c].name;
      for (size_t r = 0; r < a.columns[c].numbers.size(); ++r) {
        double x = a.columns[c].numbers[r], y = b.columns[c].numbers[r];
        EXPECT_TRUE(x == y || (std::isnan(x) && std::isnan(y))) << a.columns[c].name << "[" << r << "]";
      }
    }
  }
  EXPECT_EQ(expected.best_step(), actual.best_step());
  ASSERT_EQ(expected.snapshot_steps(), actual.snapshot_steps());
  for (size_t s = 0; s < expected.snapshot_steps().size(); ++s) {
    for (const char* which : {"guide_target", "target_target", "guide_guide"}) {
      EXPECT_EQ(expected.similarity("linear-cka", which, s).values,
                actual.similarity("linear-cka", which, s).values)
          << which << " at snapshot " << s;
    }
    for (const auto& tap : expected.layout().target_taps) {
      EXPECT_TRUE(expected.activation("target", tap, s).equal(actual.activation("target", tap, s)))
          << tap << " at snapshot " << s;
    }
  }
  EXPECT_EQ(actual.state(), RecordState::Completed);
}

/// @return the split column of a record's evaluation table.
std::vector<std::string> splits_of(const std::string& record) {
  return analysis::RecordReader(record).evaluation().column("split").texts;
}

TEST_F(RunSafety, RunNameMustStayInsideTheOutputFolder) {
  const std::vector<std::pair<std::string, std::string>> names = {
      {"\"/etc/escape\"", "is absolute"},
      {"\"../escape\"", "'.' or '..' component"},
      {"\"a/../../escape\"", "'.' or '..' component"},
      {"\"guide-cache\"", "folder of cached trained guides"},
      {"\"\"", "must not be empty"},
      {"\"" + std::string(100000, 'x') + "\"", "more than the 512 allowed"},
      {"\"tab\\there\"", "control character"},
  };
  for (const auto& [name, reason] : names) {
    std::string text = parity_config(directory_.file("out"));
    text.replace(text.find("\"parity-small\""), 14, name);
    std::string config = write_config("name.toml", text);
    testing::CommandResult result = cli("check '" + config + "'");
    EXPECT_EQ(result.exit_code, 2) << name.substr(0, 40);
    EXPECT_THAT(result.err, HasSubstr(config + ":2:8: key 'run.name': "));
    EXPECT_THAT(result.err, HasSubstr(reason));
  }
  EXPECT_FALSE(fs::exists(directory_.file("out")));
  EXPECT_FALSE(fs::exists(directory_.path() + "/../escape"));
}

TEST_F(RunSafety, MalformedDeviceIsAConfigErrorWithItsLocation) {
  for (const char* device : {"cuda:", "cuda:x", "cpu0", "cuda:1:2"}) {
    std::string text = parity_config(directory_.file("out"));
    text.replace(text.find("threads = 1"), 11, "threads = 1\ndevice = \"" + std::string(device) + "\"");
    std::string config = write_config("device.toml", text);
    testing::CommandResult result = cli("check '" + config + "'");
    EXPECT_EQ(result.exit_code, 2) << device;
    EXPECT_THAT(result.err, HasSubstr(config + ":5:10: key 'run.device': '" + device + "'"));
  }
}

TEST_F(RunSafety, ConfigFilesAreBoundedBeforeTheyAreParsed) {
  struct Case {
    std::string path;
    std::string reason;
  };
  std::string big = directory_.file("big.toml");
  testing::write_file(big, "# " + std::string(2 << 20, 'x') + "\n");
  std::string dotted = directory_.file("dotted.toml");
  std::string keys = "a";
  for (int i = 0; i < 50000; ++i) keys += ".a";
  testing::write_file(dotted, keys + " = 1\n");
  std::string nested = directory_.file("nested.toml");
  testing::write_file(nested, "x = " + std::string(100000, '[') + std::string(100000, ']') + "\n");
  std::string floats = directory_.file("floats.toml");  // many dots, none a dotted key
  std::string list = "x = [";
  for (int i = 0; i < 200; ++i) list += "0.5, ";
  testing::write_file(floats, list + "1.5]\n[run]\n");
  for (const Case& c : std::vector<Case>{
           {"/dev/zero", "/dev/zero: is a character device, not a regular file"},
           {directory_.path(), "is a directory, not a regular file"},
           {big, "bytes is larger than the 1048576 bytes allowed"},
           {dotted, dotted + ":1: dotted key with too many parts (at most 32 allowed)"},
           {nested, nested + ":1: arrays or tables nested too deeply (at most 32 allowed)"},
           {floats, floats + ":2:1: missing required key 'run.name'"},  // parsed: the pre-scan let it through
       }) {
    testing::CommandResult result = cli("check '" + c.path + "'");
    EXPECT_EQ(result.exit_code, 2) << c.path;
    EXPECT_THAT(result.err, HasSubstr(c.reason));
  }
}

// Files a config names are opened only when they are plain files of bounded size: /dev/zero
// never ends and a FIFO blocks its reader, so either once hung `check` (issue 24).
// A text corpus may be a folder: its plain files are read and anything else in it (a FIFO here) is
// passed over, so a folder holding no plain file is refused without blocking.
TEST_F(RunSafety, CheckRefusesInputFilesThatAreNotPlainFilesAtTheirKey) {
  const std::string fifo = directory_.file("corpus.fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const std::string fifo_folder = directory_.file("fifo-only");
  fs::create_directories(fifo_folder);
  ASSERT_EQ(::mkfifo((fifo_folder + "/corpus.fifo").c_str(), 0600), 0);
  struct Case {
    std::string table;  // the [dataset] or [target] table naming the file
    std::string key;
    std::string reason;
  };
  const std::string text_dataset = "[dataset]\nplugin = \"text\"\nunit = \"character\"\npath = ";
  for (const Case& c : std::vector<Case>{
           {text_dataset + "\"/dev/zero\"\n", "dataset.path",
            "/dev/zero: is a character device, not a regular file"},
           {text_dataset + "\"" + fifo + "\"\n", "dataset.path", fifo + ": is a FIFO"},
           {text_dataset + "\"" + fifo_folder + "\"\n", "dataset.path",
            fifo_folder + ": the folder holds no text"},
           {"[dataset]\nplugin = \"fashion-mnist\"\ntrain_images = \"" + directory_.path() + "\"\n",
            "dataset.train_images", "is a directory, not a regular file"},
           {text_dataset + "\"absent.txt\"\n", "dataset.path", "absent.txt: no such file"},
           {"[dataset]\nplugin = \"fashion-mnist\"\ntrain_images = \"" + fifo + "\"\n",
            "dataset.train_images", fifo + ": is a FIFO"},
       }) {
    const std::string text = "[run]\nname = \"inputs\"\noutput = \"" + directory_.file("out") +
                             "\"\n\n" + c.table + "\n[target]\nplugin = \"mlp\"\n";
    const std::string config = write_config("inputs.toml", text);
    // The error points at the value: the line of "<key> = ", the column after it.
    const std::string key_name = c.key.substr(c.key.find('.') + 1);
    const size_t at = text.find("\n" + key_name + " = ");
    const std::string location =
        config + ":" + std::to_string(std::count(text.begin(), text.begin() + at + 1, '\n') + 1) +
        ":" + std::to_string(key_name.size() + 4) + ": key '" + c.key + "'";
    testing::CommandResult result = cli("check '" + config + "'");
    EXPECT_EQ(result.exit_code, 2) << c.table << result.err;
    EXPECT_THAT(result.err, HasSubstr(location)) << c.table;
    EXPECT_THAT(result.err, HasSubstr(c.reason)) << c.table;
  }
}

TEST_F(RunSafety, CheckRefusesWhatRunWouldRefuse) {
  std::string text = parity_config(directory_.file("out"));
  text.replace(text.find("alpha = 0.5"), 11,
               "alpha = 0.5\nlayer_map = [[\"layer0\", \"layer0\"], [\"layer0\", \"layer0\"]]");
  std::string config = write_config("pairs.toml", text);
  testing::CommandResult result = cli("check '" + config + "'");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("the pair [\"layer0\", \"layer0\"] is listed twice"));

  text = parity_config(directory_.file("out"));
  text += "metrics = [{ plugin = \"linear-cka\", name = \"" + std::string(1000, 'm') + "\" }]\n";
  config = write_config("long-metric.toml", text);
  result = cli("check '" + config + "'");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("key 'record.metrics[0].name': is 1000 bytes long, more than "
                                    "the 128 allowed"));

  text = parity_config(directory_.file("out"));
  text.replace(text.find("hidden = 16"), 11, "hidden = 4294967297");
  config = write_config("huge.toml", text);
  result = cli("check '" + config + "'");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr(config + ":18:10: key 'target.hidden': value 4294967297 is out "
                                    "of range for architecture plugin 'rnn': must be integer "
                                    "between 1 and 16384"));
}

TEST_F(RunSafety, ALockedRunIsRefusedNamingItsHolderAndFreedWhenTheHolderIsKilled) {
  std::string config = write_config("locked.toml", parity_config(directory_.file("out"), "untrained", 4));
  std::string run_dir = directory_.file("out") + "/parity-small";
  ASSERT_EQ(cli("run --quiet '" + config + "'").exit_code, 0);
  std::string record_before = testing::read_file(run_dir + "/run.h5");

  int ready[2], release[2];
  ASSERT_EQ(pipe(ready), 0);
  ASSERT_EQ(pipe(release), 0);
  pid_t holder = fork();
  if (holder == 0) {
    DirectoryLock lock(run_dir);
    char byte = 1;
    (void)!write(ready[1], &byte, 1);
    (void)!read(release[0], &byte, 1);  // holds the lock until killed
    _exit(0);
  }
  char byte = 0;
  ASSERT_EQ(read(ready[0], &byte, 1), 1);

  for (const char* options : {"--resume", "--restart"}) {
    testing::CommandResult refused = cli(std::string("run --quiet ") + options + " '" + config + "'");
    EXPECT_EQ(refused.exit_code, 1) << options;
    EXPECT_THAT(refused.err, HasSubstr(run_dir + " is in use by another process"));
    EXPECT_THAT(refused.err, HasSubstr("pid " + std::to_string(holder)));
  }
  EXPECT_EQ(testing::read_file(run_dir + "/run.h5"), record_before) << "--restart changed nothing";
  EXPECT_EQ(DirectoryLock::holder(run_dir).find("pid " + std::to_string(holder)) != std::string::npos,
            true);
  EXPECT_THROW(DirectoryLock again(run_dir), RunBusyError) << "a second holder in one process";

  kill(holder, SIGKILL);
  testing::wait_exit_code(holder);
  EXPECT_EQ(DirectoryLock::holder(run_dir), "");
  testing::CommandResult after = cli("run --quiet --restart '" + config + "'");
  EXPECT_EQ(after.exit_code, 0) << after.err;
}

TEST_F(RunSafety, KillWhileFinishingRedoesTheFinalRowsOnResume) {
  std::string reference = write_config("reference.toml", parity_config(directory_.file("a"), "untrained", 40));
  testing::CommandResult uninterrupted = cli("run '" + reference + "'");
  ASSERT_EQ(uninterrupted.exit_code, 0) << uninterrupted.err;

  std::string config = write_config("finish.toml", parity_config(directory_.file("b"), "untrained", 40));
  std::string record = directory_.file("b") + "/parity-small/run.h5";
  ASSERT_EQ(cli("run --quiet '" + config + "'", "GUIDANCE_KILL_AT=finish").exit_code, kKilled);
  EXPECT_EQ(record_format::state_of(record), RecordState::Running);
  for (const auto& split : splits_of(record)) EXPECT_THAT(split, Not(HasSubstr("best/")));

  testing::CommandResult resumed = cli("run '" + config + "' --resume");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_THAT(resumed.err, HasSubstr("resumed at step 40 of 40"));
  EXPECT_EQ(figures(resumed, directory_.file("b")), figures(uninterrupted, directory_.file("a")));
  std::vector<std::string> splits = splits_of(record);
  EXPECT_EQ(std::count(splits.begin(), splits.end(), "best/test"), 1);
  expect_same_record(directory_.file("a") + "/parity-small/run.h5", record);

  // A completed run resumed again changes nothing and reports the same figures.
  std::string completed = testing::read_file(record);
  testing::CommandResult again = cli("run '" + config + "' --resume");
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_THAT(again.err, HasSubstr("already completed at step 40 of 40"));
  EXPECT_EQ(figures(again, directory_.file("b")), figures(uninterrupted, directory_.file("a")));
  EXPECT_EQ(testing::read_file(record), completed);
}

TEST_F(RunSafety, KillsInsideSnapshotsAndAfterStepsResumeToTheSameRecord) {
  std::string reference = write_config("reference.toml", parity_config(directory_.file("a"), "untrained", 60));
  ASSERT_EQ(cli("run --quiet '" + reference + "'").exit_code, 0);
  // The first snapshot (step 20) creates its datasets; 40 extends them; step 33 is unflushed.
  std::string config = write_config("snap.toml", parity_config(directory_.file("b"), "untrained", 60));
  int kills = 0;
  for (const char* point : {"snapshot:20", "step:33", "snapshot:40", "snapshot:60"}) {
    testing::CommandResult killed =
        cli("run --quiet --resume '" + config + "'", std::string("GUIDANCE_KILL_AT=") + point);
    EXPECT_EQ(killed.exit_code, kKilled) << point << ": " << killed.err;
    kills += killed.exit_code == kKilled;
  }
  EXPECT_EQ(kills, 4);
  testing::CommandResult resumed = cli("run --quiet --resume '" + config + "'");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  std::string record = directory_.file("b") + "/parity-small/run.h5";
  expect_same_record(directory_.file("a") + "/parity-small/run.h5", record);
  for (const auto& entry : fs::directory_iterator(directory_.file("b") + "/parity-small")) {
    EXPECT_THAT(entry.path().filename().string(), Not(HasSubstr(".partial.")));
  }
}

TEST_F(RunSafety, DamagedCheckpointOrWeightsAreRefusedNamingTheFile) {
  std::string config = write_config("damaged.toml", parity_config(directory_.file("out"), "untrained", 60));
  std::string run_dir = directory_.file("out") + "/parity-small";
  ASSERT_EQ(cli("run --quiet '" + config + "'", "GUIDANCE_STOP_AT_STEP=25").exit_code, 130);
  for (const char* file : {"checkpoint.pt", "guide.pt"}) {
    std::string path = run_dir + "/" + file;
    std::string bytes = testing::read_file(path);
    std::string original = bytes;
    // Past the first half of the file lies tensor data (headers are a small share of it).
    bytes[bytes.size() / 2 + 17] ^= 0x10;
    testing::write_file(path, bytes);
    testing::CommandResult result = cli("run --quiet --resume '" + config + "'");
    EXPECT_EQ(result.exit_code, 1) << file;
    EXPECT_THAT(result.err, HasSubstr("'" + path + "' is damaged: its checksum does not match"));
    testing::write_file(path, original);
  }
  testing::CommandResult repaired = cli("run --quiet --resume '" + config + "'");
  EXPECT_EQ(repaired.exit_code, 0) << repaired.err;
}

// A stop after the last step lands in the final evaluations, which a study's Ctrl-C once had to
// wait out: the run stops there, resumable, and --resume writes the final rows it lacked.
TEST_F(RunSafety, AStopDuringTheFinalEvaluationsIsResumable) {
  testing::CommandResult uninterrupted = uninterrupted_run();
  ASSERT_EQ(uninterrupted.exit_code, 0) << uninterrupted.err;

  std::string config = write_config("final.toml", parity_config(directory_.file("b"), "untrained", 60));
  std::string record = directory_.file("b") + "/parity-small/run.h5";
  testing::CommandResult stopped = cli("run '" + config + "'", "GUIDANCE_STOP_AT_STEP=60");
  ASSERT_EQ(stopped.exit_code, 130) << stopped.err;
  EXPECT_THAT(stopped.err, HasSubstr("stopped while evaluating the best weights"));
  EXPECT_EQ(record_format::state_of(record), RecordState::Interrupted);
  testing::CommandResult resumed = cli("run '" + config + "' --resume");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_EQ(record_format::state_of(record), RecordState::Completed);
  EXPECT_EQ(figures(resumed, directory_.file("b")), figures(uninterrupted, directory_.file("a")));
}

// Ctrl-C inside an evaluation of many batches stops it there, not after its last batch: during
// training the step's evaluation and checkpoint are dropped (--resume continues from the
// checkpoint before, as after a kill), during the final evaluations the record waits for them.
TEST_F(RunSafety, AStopInsideAnEvaluationAbandonsItAndResumesToTheSameRecord) {
  // 8-example evaluation batches: 64 of the train subset and 8 of validation at each of the
  // evaluations after steps 16, 32, 48 and 60; then the final ones.
  const std::string batches = " train.eval_batch_size=8";
  std::string reference = write_config("reference.toml", parity_config(directory_.file("a")));
  ASSERT_EQ(cli("run --quiet '" + reference + "'" + batches).exit_code, 0);
  std::string config = write_config("stop.toml", parity_config(directory_.file("b")));
  std::string record = directory_.file("b") + "/parity-small/run.h5";

  testing::CommandResult in_training =
      cli("run '" + config + "'" + batches, "GUIDANCE_SIGNAL_AT=evaluation:5");
  ASSERT_EQ(in_training.exit_code, 130) << in_training.err;
  EXPECT_EQ(record_format::state_of(record), RecordState::Interrupted);
  testing::CommandResult resumed = cli("run '" + config + "' --resume" + batches);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_THAT(resumed.err, HasSubstr("resumed at step 10 of 60"));  // the checkpoint before 16

  std::string again = write_config("final.toml", parity_config(directory_.file("c")));
  testing::CommandResult in_final = cli("run '" + again + "'" + batches,
                                        "GUIDANCE_SIGNAL_AT=evaluation:" + std::to_string(4 * 72 + 10));
  ASSERT_EQ(in_final.exit_code, 130) << in_final.err;
  EXPECT_THAT(in_final.err, HasSubstr("stopped while evaluating the best weights"));
  ASSERT_EQ(cli("run --quiet '" + again + "' --resume" + batches).exit_code, 0);

  expect_same_record(directory_.file("a") + "/parity-small/run.h5", record);
  expect_same_record(directory_.file("a") + "/parity-small/run.h5",
                     directory_.file("c") + "/parity-small/run.h5");
}

// Snapshots run the probe eval_batch_size examples at a time. A token task pads each batch to its
// longest sequence, so parts of a probe made as batches of their own had lengths of their own,
// and the record refused the second part ("holds activations of [32, 160] ... gives [8, 9, 16]").
TEST_F(RunSafety, SnapshotsOfSequencesInSmallBatchesHoldTheActivationsOfOneBatch) {
  std::string whole =
      write_config("whole.toml", parity_config(directory_.file("a"), "untrained", 20));
  std::string parts =
      write_config("parts.toml", parity_config(directory_.file("b"), "untrained", 20));
  ASSERT_EQ(cli("run --quiet '" + whole + "' train.eval_batch_size=32").exit_code, 0);
  testing::CommandResult in_parts = cli("run --quiet '" + parts + "' train.eval_batch_size=8");
  ASSERT_EQ(in_parts.exit_code, 0) << in_parts.err;
  analysis::RecordReader one(directory_.file("a") + "/parity-small/run.h5");
  analysis::RecordReader eight(directory_.file("b") + "/parity-small/run.h5");
  ASSERT_EQ(one.snapshot_steps(), eight.snapshot_steps());
  for (const char* side : {"guide", "target"}) {
    const auto& taps =
        std::string(side) == "guide" ? one.layout().guide_taps : one.layout().target_taps;
    for (const auto& tap : taps) {
      torch::Tensor expected = one.activation(side, tap, 0);
      torch::Tensor actual = eight.activation(side, tap, 0);
      ASSERT_EQ(expected.sizes(), actual.sizes()) << side << " " << tap;
      // The same examples at the same length; batch size may move the last bits of a matmul.
      EXPECT_TRUE(torch::allclose(expected, actual, 1e-4, 1e-5)) << side << " " << tap;
    }
  }
}

TEST_F(RunSafety, MissingOrStaleBestWeightsAreRestoredFromTheCheckpoint) {
  testing::CommandResult uninterrupted = uninterrupted_run();
  ASSERT_EQ(uninterrupted.exit_code, 0) << uninterrupted.err;

  std::string config = write_config("best.toml", parity_config(directory_.file("b"), "untrained", 60));
  std::string best = directory_.file("b") + "/parity-small/best.pt";
  ASSERT_EQ(cli("run --quiet '" + config + "'", "GUIDANCE_STOP_AT_STEP=40").exit_code, 130);
  ASSERT_TRUE(fs::exists(best));
  fs::remove(best);
  testing::CommandResult resumed = cli("run '" + config + "' --resume");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_TRUE(fs::exists(best));
  EXPECT_EQ(figures(resumed, directory_.file("b")), figures(uninterrupted, directory_.file("a")));
}

TEST_F(RunSafety, AFullDiskFailsCleanlyAndTheRunResumesOnceThereIsSpace) {
  testing::CommandResult uninterrupted = uninterrupted_run();
  ASSERT_EQ(uninterrupted.exit_code, 0) << uninterrupted.err;

  // A file size limit of 200 KiB stands in for a full disk without privileges (SIGXFSZ ignored,
  // so a write past it fails with EFBIG as one on a full disk fails with ENOSPC): the record
  // refuses the first snapshot before writing any of it, and the checkpoints still fit.
  std::string config = write_config("full.toml", parity_config(directory_.file("b"), "untrained", 60));
  std::string run_dir = directory_.file("b") + "/parity-small";
  testing::CommandResult full = testing::run_command(
      "bash -c \"trap '' XFSZ; ulimit -f 200; exec '" + testing::cli_path() + "' run --quiet '" +
      config + "'\"");
  EXPECT_EQ(full.exit_code, 1) << full.err;
  EXPECT_THAT(full.err, HasSubstr("not enough space to write the guide activations of snapshot 0 "
                                  "to the record " + run_dir + "/run.h5"));
  EXPECT_THAT(full.err, HasSubstr("bytes left under the file size limit (ulimit -f)"));
  EXPECT_EQ(record_format::state_of(run_dir + "/run.h5"), RecordState::Failed);
  for (const auto& entry : fs::directory_iterator(run_dir)) {
    EXPECT_THAT(entry.path().filename().string(), Not(HasSubstr(".partial.")));
  }
  testing::CommandResult resumed = cli("run '" + config + "' --resume");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_EQ(figures(resumed, directory_.file("b")), figures(uninterrupted, directory_.file("a")));
}

TEST_F(RunSafety, ADamagedRecordIsReportedAndSkippedByTheDirectoryReport) {
  std::string output = directory_.file("out");
  for (const char* name : {"intact", "damaged"}) {
    std::string text = parity_config(output, "untrained", 20);
    text.replace(text.find("parity-small"), 12, name);
    ASSERT_EQ(cli("run --quiet '" + write_config(std::string(name) + ".toml", text) + "'").exit_code, 0);
  }
  std::string damaged = output + "/damaged/run.h5";
  fs::resize_file(damaged, fs::file_size(damaged) / 2);
  testing::CommandResult report = cli("analyze report '" + output + "'");
  EXPECT_EQ(report.exit_code, 1) << "a skipped record makes the report incomplete";
  EXPECT_THAT(report.err, HasSubstr("skipped " + damaged + ": cannot open the record"));
  EXPECT_THAT(report.err, HasSubstr("truncated"));
  EXPECT_THAT(report.out, HasSubstr("(1 runs)"));
  EXPECT_TRUE(fs::exists(output + "/report/index.html"));
}

TEST_F(RunSafety, TestPredictionsAreInTheRecordForH5pyAndMatchTheFinalMeasures) {
  std::string config = write_config("predictions.toml", parity_config(directory_.file("out"), "untrained", 20));
  ASSERT_EQ(cli("run --quiet '" + config + "'").exit_code, 0);
  std::string record = directory_.file("out") + "/parity-small/run.h5";
  // Correctness over the scored examples (or positions) reproduces the best/test top-1.
  testing::CommandResult read = testing::run_command(
      "/usr/bin/python3 -c \"import h5py, numpy as np; f = h5py.File('" + record + "', 'r'); "
      "e = f['evaluation']; s = list(e['split'].asstr()[()]); row = s.index('best/test'); "
      "top1 = e['measures'][row, 0]; "
      "t = f['predictions/target']; c = t['correct'][()]; "
      "assert t['predicted'].shape == c.shape and c.dtype == np.int8, c.dtype; "
      "assert len(t['indices']) == 64 and 'guide' in f['predictions']; "
      "assert int(f['provenance'].attrs['best_step']) > 0; "
      "print(abs((c == 1).sum() / (c >= 0).sum() - top1) < 1e-12)\"");
  EXPECT_EQ(read.exit_code, 0) << read.err;
  EXPECT_EQ(read.out, "True\n");
}

}  // namespace
}  // namespace guidance
