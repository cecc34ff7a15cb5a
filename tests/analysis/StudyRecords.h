// Small run records with known final measures and predictions, for the tests of study
// summaries, directory reports and error consistency.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "host/recording/Hdf5.h"
#include "host/recording/RecordSchema.h"
#include "host/recording/RunRecord.h"
#include "tests/host/recording/SyntheticRecord.h"

namespace guidance::testing {

/// The resolved config of a synthetic run: an unguided one when `guide` is empty; `guide` is the
/// guide's plugin, its further lines more keys of [guide] (e.g. "torchscript\npath = \"a.pt\"");
/// `extra` is appended (e.g. a [train] table).
inline std::string config_text(const std::string& name, int seed, const std::string& target,
                               const std::string& guide, const std::string& extra = "") {
  std::string text = "[run]\nname = \"" + name + "\"\nseed = " + std::to_string(seed) +
                     "\noutput = \"results\"\nthreads = 1\n\n[dataset]\nplugin = \"parity\"\n\n"
                     "[target]\nplugin = \"" +
                     target + "\"\n\n";
  if (!guide.empty()) {
    size_t keys = guide.find('\n');
    text += "[guide]\nplugin = \"" + guide.substr(0, keys) + "\"\n" +
            (keys == std::string::npos ? "" : guide.substr(keys + 1) + "\n") +
            "\n[guide.init]\nplugin = \"untrained\"\n\n";
  }
  text += "[guidance]\nenabled = true\nalpha = 1.0\n";
  return text + extra;
}

/// Writes `<directory>/<name>/run.h5` with final evaluation rows: best/test top1 = `test`,
/// best/validation top1 = test − 0.02 and loss `validation_loss`, best/train top1 = test + 0.03;
/// and rows of the last weights that final measures must not take: a train row (top1 test +
/// 0.05), a plain validation row (top1 test − 0.01, loss validation_loss + 0.25) and a plain test
/// row; `state` is its completion state, `extra_config` is added to its config.
inline void write_record(const std::string& directory, const std::string& name, int seed,
                         const std::string& target, const std::string& guide, double test,
                         RecordState state = RecordState::Completed,
                         double validation_loss = 0.4, const std::string& extra_config = "") {
  Provenance provenance;
  provenance.workbench_version = "test";
  provenance.config_toml = config_text(name, seed, target, guide, extra_config);
  provenance.seed = static_cast<uint64_t>(seed);
  RecordLayout layout;
  layout.measure_names = {"top1"};
  layout.target_taps = {"out"};
  auto record = RunRecord::create(directory + "/" + name + "/run.h5", provenance, layout);
  record->append_training({10, 0, 0.1, 0.5, 0.5, 0.0, 0.0, {}});
  record->append_evaluation({10, 0, "train", 0.3, {{"top1", test + 0.05}}});
  record->append_evaluation(
      {10, 0, "validation", validation_loss + 0.25, {{"top1", test - 0.01}}});
  record->append_evaluation({10, 0, "test", 0.4, {{"top1", 0.0}}});
  record->append_evaluation({10, 0, std::string(record_schema::kFinalSplitPrefix) + "train", 0.28,
                             {{"top1", test + 0.03}}});
  record->append_evaluation({10,
                             0,
                             std::string(record_schema::kFinalSplitPrefix) + "validation",
                             validation_loss,
                             {{"top1", test - 0.02}}});
  record->append_evaluation(
      {10, 0, std::string(record_schema::kFinalSplitPrefix) + "test", 0.45, {{"top1", test}}});
  record->finish(state, "2024-01-01T01:00:00Z");
}

/// Adds predictions/<network>/{indices, predicted, correct} to a finished record, as the
/// record format describes them.
inline void add_predictions(const std::string& path, const std::string& network,
                            const std::vector<int64_t>& indices,
                            const std::vector<int8_t>& correct) {
  hdf5::Handle file =
      hdf5::checked(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), H5Fclose, path);
  std::string group = std::string(record_schema::kPredictions) + "/" + network;
  hdf5::create_group(file.get(), group, path);
  auto write = [&](const std::string& name, hid_t file_type, hid_t memory_type, const void* data,
                   hsize_t count) {
    hdf5::write_dataset(file.get(), group + "/" + name, file_type, {count}, memory_type, data,
                        path);
  };
  std::vector<int64_t> predicted(correct.begin(), correct.end());
  write("indices", H5T_STD_I64LE, H5T_NATIVE_INT64, indices.data(), indices.size());
  write("predicted", H5T_STD_I64LE, H5T_NATIVE_INT64, predicted.data(), predicted.size());
  write("correct", H5T_STD_I8LE, H5T_NATIVE_INT8, correct.data(), correct.size());
}

/// Writes a study of synthetic runs (testing::write_synthetic_run, a snapshot every 10 steps) to
/// `directory`/study/rate=0.<c>,seed=<s>/run.h5, run.name "study/rate=0.<c>,seed=<s>": cell c
/// (1 to `cells`) sets train.learning_rate = 0.c and trains with quality 1 / c + 0.1 s, seed s
/// (0 to `seeds` − 1); `steps(c, s)` is the run's length.
/// @return the study's directory
template <typename Steps>
std::string write_synthetic_study(const std::string& directory, int cells, int seeds,
                                  Steps steps) {
  for (int c = 1; c <= cells; ++c) {
    for (int s = 0; s < seeds; ++s) {
      std::string name = "study/rate=0." + std::to_string(c) + ",seed=" + std::to_string(s);
      Provenance provenance = synthetic_provenance(static_cast<uint64_t>(s));
      provenance.config_toml = "[run]\nname = \"" + name + "\"\nseed = " + std::to_string(s) +
                               "\n\n[train]\nlearning_rate = 0." + std::to_string(c) + "\n";
      write_synthetic_run(directory + "/" + name + "/run.h5", steps(c, s), 10, synthetic_layout(),
                          1.0 / c + 0.1 * s, 24, provenance);
    }
  }
  return directory + "/study";
}

}  // namespace guidance::testing
