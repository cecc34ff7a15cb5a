#include "host/recording/RunRecord.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "analysis/RecordReader.h"
#include "host/recording/RecordFormat.h"
#include "host/common/Errors.h"
#include "host/representation/Similarity.h"
#include "tests/host/recording/SyntheticRecord.h"
#include "tests/support/TestSupport.h"

extern char** environ;

namespace guidance {
namespace {

using testing::error_of;

using testing::CommandResult;
using testing::TemporaryDirectory;

// Runs check_record.py on a record with Debian's h5py; `arguments` are the script's options.
CommandResult check_with_h5py(const std::string& path, const std::string& arguments) {
  return testing::run_command("/usr/bin/python3 '" CHECK_RECORD_SCRIPT "' '" + path + "' " +
                              arguments);
}

class RunRecordTest : public testing::SeededTest {};

TEST_F(RunRecordTest, H5pyReadsNamesShapesLabelsAndRecomputesSimilarity) {
  TemporaryDirectory directory;
  std::string path = directory.file("run.h5");
  testing::write_synthetic_run(path, 30, 10);

  // The synthetic guide's taps are [n, 4, 3, 3], [n, 8, 2, 2] and [n, 10]; the target's [n, F].
  CommandResult checked = check_with_h5py(
      path, "--training-steps 1:30 --snapshot-steps 10,20,30 --evaluation-steps 10,20,30 "
            "--example-shape guide/conv1=4,3,3 --example-shape guide/conv2=8,2,2 "
            "--example-shape guide/fc=10 --example-shape target/fc1=16");
  EXPECT_EQ(checked.exit_code, 0) << checked.err;
  EXPECT_EQ(checked.out, "ok\n");
  checked = check_with_h5py(path, "--training-steps 1:30 --snapshot-steps 10,20,30 "
                                  "--example-shape guide/conv1=36");
  EXPECT_EQ(checked.exit_code, 1) << "the check must see a wrong example_shape";
  EXPECT_NE(checked.err.find("example_shape"), std::string::npos) << checked.err;

  CommandResult dumped = testing::run_command("h5dump -H '" + path + "'");
  EXPECT_EQ(dumped.exit_code, 0) << dumped.err;
  EXPECT_NE(dumped.out.find("DATASET \"pair_distance\""), std::string::npos);
  EXPECT_NE(dumped.out.find("GROUP \"similarity\""), std::string::npos);
}

TEST_F(RunRecordTest, StoresFloat16ActivationsAndUnguidedRuns) {
  TemporaryDirectory directory;
  std::string half = directory.file("half.h5");
  testing::write_synthetic_run(half, 20, 10, testing::synthetic_layout(ActivationDtype::Float16));
  // The stored matrices come from the stored float16 activations, so h5py recomputes them.
  CommandResult checked = check_with_h5py(
      half, "--training-steps 1:20 --snapshot-steps 10,20 --activation-dtype float16");
  EXPECT_EQ(checked.exit_code, 0) << checked.err;

  std::string unguided = directory.file("unguided.h5");
  testing::write_synthetic_run(unguided, 10, 5, testing::synthetic_layout(ActivationDtype::Float32, false));
  checked = check_with_h5py(unguided, "--training-steps 1:10 --snapshot-steps 5,10");
  EXPECT_EQ(checked.exit_code, 0) << checked.err;
}

// Sets the root attribute format_version of a closed record.
void set_format_version(const std::string& path, int64_t version) {
  hdf5::Handle file =
      hdf5::checked(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), H5Fclose, path);
  hdf5::write_integer_attribute(file.get(), "format_version", version);
}

TEST_F(RunRecordTest, ReaderRestoresEachTapsShapePerExample) {
  TemporaryDirectory directory;
  std::string path = directory.file("run.h5");
  RecordLayout layout = testing::synthetic_layout();
  testing::write_synthetic_run(path, 10, 10, layout);
  testing::SyntheticActivations written = testing::synthetic_activations(layout, 24, 10);

  analysis::RecordReader reader(path);
  for (size_t i = 0; i < layout.guide_taps.size(); ++i) {
    const std::string& tap = layout.guide_taps[i];
    std::vector<int64_t> shape = reader.example_shape("guide", tap);
    c10::IntArrayRef expected = written.guide[i].sizes().slice(1);
    EXPECT_EQ(shape, std::vector<int64_t>(expected.begin(), expected.end())) << tap;
    shape.insert(shape.begin(), 24);
    EXPECT_TRUE(torch::equal(reader.activation("guide", tap, 0).reshape(shape), written.guide[i]))
        << tap;
  }
  EXPECT_EQ(reader.example_shape("target", "fc2"), (std::vector<int64_t>{12}));
}

TEST_F(RunRecordTest, ReadsVersion2RecordsAndRefusesNewerOnesNamingBothVersions) {
  TemporaryDirectory directory;
  std::string path = directory.file("run.h5");
  testing::write_synthetic_run(path, 10, 10);
  // A version 2 record: its activations have no example_shape, so readers see them flattened.
  set_format_version(path, 2);
  {
    hdf5::Handle file =
        hdf5::checked(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), H5Fclose, path);
    hdf5::Handle tap = hdf5::open_dataset(
        file.get(), record_schema::activation_path("guide", "conv1"), path);
    ASSERT_GE(H5Adelete(tap.get(), record_schema::kExampleShape), 0);
  }
  EXPECT_EQ(analysis::RecordReader(path).example_shape("guide", "conv1"),
            (std::vector<int64_t>{36}));

  const int64_t newer = record_schema::kFormatVersion + 1;
  set_format_version(path, newer);
  std::string expected = "record format version " + std::to_string(newer) +
                         "; this build reads versions 1 to " +
                         std::to_string(record_schema::kFormatVersion);
  std::string message = error_of([&] { analysis::RecordReader reader(path); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find(expected), std::string::npos) << message;
  message = error_of([&] { RunRecord::resume(path, 10); });
  EXPECT_NE(message.find(expected), std::string::npos) << message;
  EXPECT_EQ(record_format::state_of(path), std::nullopt);
}

/// A snapshot source over activations in memory that hands them out in batches and logs the calls.
struct BatchedSource {
  BatchedSource(const testing::SyntheticActivations& activations, int64_t examples,
                int64_t batch_size, uint64_t memory_bytes) {
    source.examples = examples;
    source.batch_size = batch_size;
    source.similarity_memory_bytes = memory_bytes;
    source.activations = [this, activations](const std::string& side, int64_t begin, int64_t end) {
      calls.push_back(side + " " + std::to_string(begin) + ".." + std::to_string(end));
      std::vector<torch::Tensor> rows;
      for (const auto& tap : side == "guide" ? activations.guide : activations.target) {
        rows.push_back(tap.narrow(0, begin, end - begin).clone());
      }
      return rows;
    };
  }
  SnapshotSource source;
  std::vector<std::string> calls;
};

TEST_F(RunRecordTest, SnapshotsStreamBatchByBatchAndMatchASingleBatch) {
  TemporaryDirectory directory;
  for (ActivationDtype dtype : {ActivationDtype::Float32, ActivationDtype::Float16}) {
    SCOPED_TRACE(to_string(dtype));
    RecordLayout layout = testing::synthetic_layout(dtype);
    std::vector<std::shared_ptr<Metric>> metrics(layout.metrics.size(),
                                                 std::make_shared<testing::TestLinearCka>());
    testing::SyntheticActivations activations = testing::synthetic_activations(layout, 10, 5);
    std::string whole = directory.file(std::string(to_string(dtype)) + "-whole.h5");
    std::string streamed = directory.file(std::string(to_string(dtype)) + "-streamed.h5");
    {
      auto record = RunRecord::create(whole, testing::synthetic_provenance(), layout);
      record->write_snapshot(5, activations.guide, activations.target, metrics);
      record->finish(RecordState::Completed, "2024-01-01T00:00:00Z");
    }
    // Batches of 3 of 10 probes; a 1-byte budget keeps no tap, so every matrix entry rereads both.
    BatchedSource batched(activations, 10, 3, 1);
    {
      auto record = RunRecord::create(streamed, testing::synthetic_provenance(), layout);
      record->write_snapshot(5, batched.source, metrics);
      record->finish(RecordState::Completed, "2024-01-01T00:00:00Z");
    }
    EXPECT_EQ(batched.calls,
              (std::vector<std::string>{"guide 0..3", "guide 3..6", "guide 6..9", "guide 9..10",
                                        "target 0..3", "target 3..6", "target 6..9",
                                        "target 9..10"}));

    analysis::RecordReader one(whole);
    analysis::RecordReader many(streamed);
    std::vector<torch::Tensor> guide, target;
    for (const auto& tap : layout.guide_taps) {
      guide.push_back(many.activation("guide", tap, 0));
      EXPECT_TRUE(torch::equal(guide.back(), one.activation("guide", tap, 0))) << tap;
    }
    for (const auto& tap : layout.target_taps) {
      target.push_back(many.activation("target", tap, 0));
      EXPECT_TRUE(torch::equal(target.back(), one.activation("target", tap, 0))) << tap;
    }
    // Matrices are computed from the activations as stored (float16 included), whatever the
    // batching and memory budget.
    testing::TestLinearCka metric;
    for (const auto& [which, rows, columns] :
         {std::tuple{"guide_target", &guide, &target}, std::tuple{"target_target", &target, &target},
          std::tuple{"guide_guide", &guide, &guide}}) {
      analysis::SimilarityMatrix stored = many.similarity(layout.metrics[0], which, 0);
      EXPECT_EQ(stored.values, one.similarity(layout.metrics[0], which, 0).values) << which;
      torch::Tensor recomputed = similarity_matrix(metric, *rows, *columns);
      EXPECT_TRUE(torch::equal(recomputed.flatten(), torch::tensor(stored.values, torch::kDouble)))
          << which;
    }
  }
}

TEST_F(RunRecordTest, StreamedBatchOfTheWrongShapeNamesTheDataset) {
  TemporaryDirectory directory;
  RecordLayout layout = testing::synthetic_layout();
  testing::SyntheticActivations activations = testing::synthetic_activations(layout, 10, 5);
  BatchedSource batched(activations, 10, 4, 1 << 20);
  auto honest = batched.source.activations;
  batched.source.activations = [&](const std::string& side, int64_t begin, int64_t end) {
    std::vector<torch::Tensor> rows = honest(side, begin, end);
    if (side == "target" && begin > 0) rows[1] = torch::zeros({end - begin, 3});
    return rows;
  };
  auto record = RunRecord::create(directory.file("run.h5"), testing::synthetic_provenance(), layout);
  std::string message = error_of([&] {
    record->write_snapshot(5, batched.source, {std::make_shared<testing::TestLinearCka>()});
  });
  EXPECT_NE(message.find("snapshots/activations/target/" + layout.target_taps[1]), std::string::npos)
      << message;
  EXPECT_NE(message.find("examples 4..7"), std::string::npos) << message;
}

TEST_F(RunRecordTest, SimilarityMatrixComparesEveryPairWithoutGradient) {
  testing::TestLinearCka metric;
  torch::Tensor a = torch::randn({16, 2, 3}, torch::requires_grad());
  torch::Tensor b = torch::randn({16, 5});
  torch::Tensor c = a.detach().reshape({16, 6}) * 2.0;
  torch::Tensor matrix = similarity_matrix(metric, {a, b}, {b, c, a});
  ASSERT_EQ(matrix.sizes(), torch::IntArrayRef({2, 3}));
  EXPECT_EQ(matrix.scalar_type(), torch::kDouble);
  EXPECT_FALSE(matrix.requires_grad());
  EXPECT_NEAR(matrix[0][2].item<double>(), 1.0, 1e-6);
  EXPECT_NEAR(matrix[0][1].item<double>(), 1.0, 1e-6);  // CKA ignores isotropic scaling
  EXPECT_NEAR(matrix[1][0].item<double>(), 1.0, 1e-6);
  double expected = metric.similarity(a.detach().reshape({16, 6}), b).item<double>();
  EXPECT_NEAR(matrix[0][0].item<double>(), expected, 1e-9);
  EXPECT_LT(expected, 0.9);
}

TEST_F(RunRecordTest, RefusesAnExistingFileWithoutTouchingIt) {
  TemporaryDirectory directory;
  std::string path = directory.file("run.h5");
  testing::write_file(path, "an earlier record");
  std::string message =
      error_of([&] { RunRecord::create(path, testing::synthetic_provenance(),
                                       testing::synthetic_layout()); });
  EXPECT_NE(message.find("refusing to overwrite"), std::string::npos) << message;
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_EQ(testing::read_file(path), "an earlier record");
}

TEST_F(RunRecordTest, RefusesADirectoryItCannotWriteNamingIt) {
  TemporaryDirectory directory;
  testing::write_file(directory.file("not-a-directory"), "");
  std::string path = directory.file("not-a-directory/run/run.h5");
  std::string message =
      error_of([&] { RunRecord::create(path, testing::synthetic_provenance(),
                                       testing::synthetic_layout()); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("cannot create the record directory"), std::string::npos) << message;
}

TEST_F(RunRecordTest, RefusesBadLayoutsAndRowsNamingTheValue) {
  TemporaryDirectory directory;
  RecordLayout layout = testing::synthetic_layout();
  layout.target_taps.push_back("block/conv");
  std::string message = error_of([&] {
    RunRecord::create(directory.file("a.h5"), testing::synthetic_provenance(), layout);
  });
  EXPECT_NE(message.find("'block/conv'"), std::string::npos) << message;
  EXPECT_FALSE(std::filesystem::exists(directory.file("a.h5")));

  auto record = RunRecord::create(directory.file("b.h5"), testing::synthetic_provenance(),
                                  testing::synthetic_layout());
  message = error_of([&] { record->append_training(testing::synthetic_training_row(1, 2)); });
  EXPECT_NE(message.find("2 pair distances, the layout has 3"), std::string::npos) << message;
  EvaluationRow evaluation = testing::synthetic_evaluation_row(1);
  evaluation.measures["perplexity"] = 3.0;
  message = error_of([&] { record->append_evaluation(evaluation); });
  EXPECT_NE(message.find("'perplexity'"), std::string::npos) << message;
  record->append_training(testing::synthetic_training_row(5, 3));
  message = error_of([&] { record->append_training(testing::synthetic_training_row(5, 3)); });
  EXPECT_NE(message.find("step 5 does not follow the previous row's step 5"), std::string::npos)
      << message;
  message = error_of([&] { record->finish(RecordState::Running, "now"); });
  EXPECT_NE(message.find("final state 'running'"), std::string::npos) << message;
}

TEST_F(RunRecordTest, TheProbeSourceIsWrittenOnceAndReadBackAsColumns) {
  TemporaryDirectory directory;
  std::string path = directory.file("run.h5");
  {
    auto record =
        RunRecord::create(path, testing::synthetic_provenance(), testing::synthetic_layout());
    ExampleSource source{"train", torch::arange(4) * 7 + 100};
    std::string message = error_of([&] {
      record->write_probe(torch::arange(4), torch::arange(4), ExampleSource{"train", torch::arange(3)});
    });
    EXPECT_NE(message.find("source rows [n]"), std::string::npos) << message;
    record->write_probe(torch::arange(4), torch::arange(4), source);
    record->write_probe(torch::arange(4), torch::arange(4), source);  // the same: accepted
    message = error_of([&] {
      record->write_probe(torch::arange(4), torch::arange(4), ExampleSource{"train", torch::arange(4)});
    });
    EXPECT_NE(message.find("probe/source_rows"), std::string::npos) << message;
    record->finish(RecordState::Completed, "2024-01-02T00:00:00Z");
  }
  analysis::Table probe = analysis::RecordReader(path).probe();
  EXPECT_EQ(probe.column("source_row").numbers, (std::vector<double>{100, 107, 114, 121}));
  EXPECT_EQ(probe.column("source_part").texts, std::vector<std::string>(4, "train"));
  EXPECT_EQ(probe.column("index").numbers, (std::vector<double>{0, 1, 2, 3}));
}

TEST_F(RunRecordTest, ResumeDropsRowsAfterTheCheckpointAndAppendsFromThere) {
  TemporaryDirectory directory;
  std::string path = directory.file("run.h5");
  testing::write_synthetic_run(path, 30, 10);

  RecordLayout layout = testing::synthetic_layout();
  auto record = RunRecord::resume(path, 20);
  EXPECT_EQ(record->layout().target_taps, layout.target_taps);
  EXPECT_EQ(record->layout().pair_names, layout.pair_names);
  std::string message =
      error_of([&] { record->append_training(testing::synthetic_training_row(20, 3)); });
  EXPECT_NE(message.find("previous row's step 20"), std::string::npos) << message;
  // The probe set is the same one, so writing it again is accepted.
  record->write_probe(torch::arange(24) * 3, torch::arange(24) % 10);
  message = error_of([&] { record->write_probe(torch::arange(24), torch::arange(24) % 10); });
  EXPECT_NE(message.find("probe/indices"), std::string::npos) << message;

  std::vector<std::shared_ptr<Metric>> metrics = {std::make_shared<testing::TestLinearCka>()};
  for (int64_t step = 21; step <= 25; ++step) {
    record->append_training(testing::synthetic_training_row(step, 3));
  }
  record->append_evaluation(testing::synthetic_evaluation_row(25));
  auto activations = testing::synthetic_activations(layout, 24, 25);
  record->write_snapshot(25, activations.guide, activations.target, metrics);
  record->finish(RecordState::Completed, "2024-01-02T00:00:00Z");

  CommandResult checked = check_with_h5py(
      path, "--training-steps 1:25 --snapshot-steps 10,20,25 --evaluation-steps 10,20,25 "
            "--resumed 1");
  EXPECT_EQ(checked.exit_code, 0) << checked.err;
}

// Starts the writer helper and waits until it says its rows are flushed (and, `in_snapshot`, that
// it is halfway through the next snapshot).
pid_t start_writer(const std::string& path, int flushed, int buffered, bool in_snapshot = false) {
  int pipe_ends[2];
  if (pipe(pipe_ends) != 0) throw std::runtime_error("pipe failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_ends[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, pipe_ends[0]);
  std::string flushed_text = std::to_string(flushed);
  std::string buffered_text = std::to_string(buffered);
  std::string mode = "in-snapshot";
  std::vector<char*> argv = {const_cast<char*>(RECORD_WRITER), const_cast<char*>(path.c_str()),
                             flushed_text.data(), buffered_text.data()};
  if (in_snapshot) argv.push_back(mode.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  int status = posix_spawn(&pid, RECORD_WRITER, &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(pipe_ends[1]);
  if (status != 0) throw std::runtime_error("cannot start " RECORD_WRITER);
  FILE* output = fdopen(pipe_ends[0], "r");
  char line[64] = {0};
  bool ready = std::fgets(line, sizeof(line), output) != nullptr && std::string(line) == "ready\n";
  std::fclose(output);
  if (!ready) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    throw std::runtime_error(RECORD_WRITER " did not get ready");
  }
  return pid;
}

TEST_F(RunRecordTest, KilledWriterLeavesItsFlushedRowsReadableAndResumable) {
  TemporaryDirectory directory;
  std::string path = directory.file("run.h5");
  pid_t writer = start_writer(path, 20, 27);

  // A live run is readable while it writes (SWMR); rows 21..27 are buffered, not yet written.
  CommandResult live = check_with_h5py(
      path, "--swmr --state running --training-steps 1:20 --snapshot-steps 10,20");
  EXPECT_EQ(live.exit_code, 0) << live.err;

  ASSERT_EQ(kill(writer, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(waitpid(writer, &status, 0), writer);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

  CommandResult killed = check_with_h5py(
      path, "--swmr --state running --training-steps 1:20 --snapshot-steps 10,20");
  EXPECT_EQ(killed.exit_code, 0) << killed.err;

  auto record = RunRecord::resume(path, 20);
  for (int64_t step = 21; step <= 30; ++step) {
    record->append_training(testing::synthetic_training_row(step, 3));
  }
  record->finish(RecordState::Completed, "2024-01-02T00:00:00Z");
  record.reset();

  CommandResult resumed = check_with_h5py(
      path, "--training-steps 1:30 --snapshot-steps 10,20 --resumed 1");
  EXPECT_EQ(resumed.exit_code, 0) << resumed.err;
  CommandResult dumped = testing::run_command("h5dump -d /training/step '" + path + "'");
  EXPECT_EQ(dumped.exit_code, 0) << dumped.err;
  EXPECT_NE(dumped.out.find("DATASPACE  SIMPLE { ( 30 ) / ( H5S_UNLIMITED ) }"),
            std::string::npos)
      << dumped.out;
}

// A writer killed inside its first snapshot leaves objects its metadata cache wrote past the end of
// allocation its superblock last recorded; resuming must neither refuse them ("addr overflow")
// nor cut them off.
TEST_F(RunRecordTest, WriterKilledInsideASnapshotIsResumableFromItsLastFlush) {
  TemporaryDirectory directory;
  std::string path = directory.file("run.h5");
  pid_t writer = start_writer(path, 5, 9, true);
  ASSERT_EQ(kill(writer, SIGKILL), 0);
  ASSERT_EQ(waitpid(writer, nullptr, 0), writer);

  CommandResult killed = check_with_h5py(
      path, "--swmr --state running --training-steps 1:5 --snapshot-steps \"\"");
  EXPECT_EQ(killed.exit_code, 0) << killed.err;

  auto record = RunRecord::resume(path, 5);
  for (int64_t step = 6; step <= 30; ++step) {
    record->append_training(testing::synthetic_training_row(step, 3));
  }
  auto activations = testing::synthetic_activations(record->layout(), 24, 30);
  record->write_snapshot(30, activations.guide, activations.target,
                         {std::make_shared<testing::TestLinearCka>()});
  record->finish(RecordState::Completed, "2024-01-02T00:00:00Z");
  record.reset();

  CommandResult resumed = check_with_h5py(
      path, "--training-steps 1:30 --snapshot-steps 30 --resumed 1");
  EXPECT_EQ(resumed.exit_code, 0) << resumed.err;
}

// A small tmpfs stands in for a full disk; mounting needs privileges, so elsewhere the test skips.
class SmallDisk {
 public:
  SmallDisk(const std::string& directory, const std::string& size) : directory_(directory) {
    std::filesystem::create_directories(directory);
    mounted_ = testing::run_command("mount -t tmpfs -o size=" + size + " tmpfs '" + directory +
                                    "'").exit_code == 0;
  }
  ~SmallDisk() {
    if (mounted_) testing::run_command("umount '" + directory_ + "'");
  }
  bool mounted() const { return mounted_; }

 private:
  std::string directory_;
  bool mounted_ = false;
};

TEST_F(RunRecordTest, FullDiskIsRefusedUpFrontOrKeepsEverythingFlushedBefore) {
  TemporaryDirectory directory;
  {
    SmallDisk tiny(directory.file("tiny"), "256k");
    if (!tiny.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here";
    std::string path = directory.file("tiny/run.h5");
    std::string message = error_of([&] {
      RunRecord::create(path, testing::synthetic_provenance(), testing::synthetic_layout());
    });
    EXPECT_NE(message.find("not enough space for the record " + path), std::string::npos)
        << message;
    EXPECT_FALSE(std::filesystem::exists(path));
  }
  SmallDisk small(directory.file("small"), "3m");
  ASSERT_TRUE(small.mounted());
  std::string path = directory.file("small/run.h5");
  RecordLayout layout = testing::synthetic_layout();
  auto record = RunRecord::create(path, testing::synthetic_provenance(), layout);
  record->write_probe(torch::arange(24) * 3, torch::arange(24) % 10);
  std::vector<std::shared_ptr<Metric>> metrics = {std::make_shared<testing::TestLinearCka>()};
  int64_t step = 0;
  std::string message = "(no error)";
  // Incompressible activations of 24 × 16k floats per tap fill 3 MiB within a few snapshots.
  while (message == "(no error)" && step < 100) {
    step += 10;
    for (int64_t row = step - 9; row <= step; ++row) {
      record->append_training(testing::synthetic_training_row(row, 3));
    }
    auto activations = testing::synthetic_activations(layout, 24, step);
    activations.target[0] = torch::rand({24, 16384});
    message = error_of([&] {
      record->write_snapshot(step, activations.guide, activations.target, metrics);
    });
  }
  // Refused before any of the snapshot is written, naming the record and what is free.
  EXPECT_NE(message.find("not enough space to write the target activations of snapshot"),
            std::string::npos) << message;
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("bytes free in"), std::string::npos) << message;
  ASSERT_GT(step, 10) << "the first snapshot already failed: " << message;
  // The training rows buffered before the failed snapshot are written if they still fit.
  bool rows_fit = error_of([&] { record->flush(); }) == "(no error)";
  // Marking the record failed edits a copy, which cannot fit once the disk is filled up: the error
  // says why (the copy's errno, not a later call's "Success") and the record is left as it was.
  {
    std::ofstream filler(directory.file("small/filler"), std::ios::binary);
    const std::string block(1 << 16, 'x');
    while (filler.write(block.data(), block.size()) && filler.flush()) {
    }
  }
  std::string marking = error_of([&] { record->finish(RecordState::Failed, "2026-12-05T00:00:00Z"); });
  EXPECT_NE(marking.find("cannot copy the record " + path), std::string::npos) << marking;
  EXPECT_NE(marking.find("No space left on device"), std::string::npos) << marking;
  EXPECT_EQ(marking.find("Success"), std::string::npos) << marking;
  record.reset();
  std::string written = "10";
  for (int64_t done = 20; done < step; done += 10) written += "," + std::to_string(done);
  CommandResult checked = check_with_h5py(
      path, "--swmr --state running --training-steps 1:" +
                std::to_string(rows_fit ? step : step - 10) + " --snapshot-steps " + written);
  EXPECT_EQ(checked.exit_code, 0) << checked.err << "\nwrite error was: " << message;
}

}  // namespace
}  // namespace guidance

namespace guidance {
namespace {

// Runs gathered from several studies by symbolic links are found (summarize, analyze and verify
// share this walk); a link back to an ancestor is walked once instead of forever.
TEST(RecordDiscovery, FollowsLinkedFoldersOnceAndStopsAtLoops) {
  namespace fs = std::filesystem;
  testing::TemporaryDirectory directory;
  const fs::path root = directory.path();
  const fs::path elsewhere = root / "elsewhere" / "seed-2";
  fs::create_directories(root / "study" / "seed-1");
  fs::create_directories(elsewhere);
  testing::write_file((root / "study" / "seed-1" / "run.h5").string(), "");
  testing::write_file((elsewhere / "run.h5").string(), "");
  testing::write_file((root / "study" / "notes.h5").string(), "");  // not a run record
  fs::create_directory_symlink(elsewhere, root / "study" / "seed-2");
  fs::create_directory_symlink(root / "study", root / "study" / "seed-1" / "loop");

  EXPECT_EQ(record_format::find_records((root / "study").string()),
            (std::vector<std::string>{(root / "study" / "seed-1" / "run.h5").string(),
                                      (root / "study" / "seed-2" / "run.h5").string()}));
}

}  // namespace
}  // namespace guidance
