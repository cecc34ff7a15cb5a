#include "host/recording/RunRecord.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <set>

#include "host/common/Errors.h"
#include "host/common/TextFormat.h"
#include "host/recording/RecordFormat.h"
#include "host/recording/RecordVerify.h"

namespace guidance {

namespace fs = std::filesystem;
namespace schema = record_schema;
using hdf5::check;
using hdf5::Handle;

namespace {

void check_names(const std::string& what, const std::vector<std::string>& names) {
  std::set<std::string> seen;
  for (const auto& name : names) {
    if (std::optional<std::string> problem = record_name_problem(name)) {
      throw RunError("record layout: " + what + " '" + name + "' cannot name an HDF5 object: " +
                     *problem);
    }
    if (!seen.insert(name).second) {
      throw RunError("record layout: " + what + " '" + name + "' appears twice");
    }
  }
}

void check_layout(const RecordLayout& layout) {
  check_names("layer pair", layout.pair_names);
  check_names("measure", layout.measure_names);
  check_names("guide tap", layout.guide_taps);
  check_names("target tap", layout.target_taps);
  check_names("metric", layout.metrics);
}

// @return how many rows of a step column have step <= last_step (steps are increasing).
int64_t rows_up_to(const std::vector<int64_t>& steps, int64_t last_step) {
  return std::upper_bound(steps.begin(), steps.end(), last_step) - steps.begin();
}

void write_predictions(hid_t file, const std::string& network, const Predictions& predictions,
                       const std::string& file_name) {
  std::string group = schema::predictions_path(network);
  size_t rows = predictions.indices.size();
  size_t width = predictions.width;
  if (predictions.predicted.size() != rows * width || predictions.correct.size() != rows * width) {
    throw RunError(file_name + ": predictions of the " + network + " have " + std::to_string(rows) +
                   " examples of width " + std::to_string(width) + " but " +
                   std::to_string(predictions.predicted.size()) + " predicted and " +
                   std::to_string(predictions.correct.size()) + " correctness values");
  }
  hdf5::create_group(file, group, file_name);
  // [N] for one value per example, [N, L] for one per position.
  std::vector<hsize_t> dims{rows};
  if (width != 1) dims.push_back(width);
  auto dataset = [&](const char* name) { return group + "/" + name; };
  hdf5::write_dataset(file, dataset(schema::kPredictionIndices), H5T_STD_I64LE, {rows},
                      H5T_NATIVE_INT64, predictions.indices.data(), file_name);
  hdf5::write_dataset(file, dataset(schema::kPredicted), H5T_STD_I64LE, dims, H5T_NATIVE_INT64,
                      predictions.predicted.data(), file_name);
  hdf5::write_dataset(file, dataset(schema::kCorrect), H5T_STD_I8LE, dims, H5T_NATIVE_INT8,
                      predictions.correct.data(), file_name);
}

}  // namespace

RunRecord::RunRecord(RecordFile file, RecordLayout layout)
    : file_(std::move(file)), layout_(std::move(layout)) {}

RunRecord::~RunRecord() {
  if (!file_ || finished_) return;
  try {
    flush();
  } catch (const std::exception&) {
    // A destructor must not throw; the file keeps what the last successful flush wrote.
  }
  file_.close();
}

std::unique_ptr<RunRecord> RunRecord::create(const std::string& path, const Provenance& provenance,
                                             const RecordLayout& layout) {
  check_layout(layout);
  hdf5::QuietErrors quiet;
  std::unique_ptr<RunRecord> record(new RunRecord(RecordFile::create(path), layout));
  try {
    hid_t file = record->file_.get();
    hdf5::write_attribute(file, schema::kFormatAttribute, std::string(schema::kFormatName));
    hdf5::write_integer_attribute(file, schema::kFormatVersionAttribute, schema::kFormatVersion);
    hdf5::write_string_dataset(file, schema::kConfig, provenance.config_toml);

    Handle origin = hdf5::create_group(file, schema::kProvenance, path);
    for (const auto& text : schema::kProvenanceTexts) {
      hdf5::write_attribute(origin.get(), text.name, provenance.*text.member);
    }
    hdf5::write_attribute(origin.get(), schema::kHdf5Version, std::string(H5_VERS_INFO));
    hdf5::write_attribute(origin.get(), schema::kEndTime, std::string());
    hdf5::write_attribute(origin.get(), schema::kState,
                          std::string(to_string(RecordState::Running)));
    hdf5::write_unsigned_attribute(origin.get(), schema::kSeed, provenance.seed);
    hdf5::write_integer_attribute(origin.get(), schema::kBestStep, -1);
    hdf5::write_integer_attribute(origin.get(), schema::kThreads, provenance.threads);
    Handle plugins = hdf5::create_group(file, schema::plugins_path(), path);
    for (const auto& column : schema::kPluginColumns) {
      std::vector<std::string> values;
      for (const auto& plugin : provenance.plugins) values.push_back(plugin.*column.member);
      hdf5::write_strings_dataset(plugins.get(), column.name, values);
    }

    Handle names = hdf5::create_group(file, schema::kLayout, path);
    for (const auto& list : schema::kLayoutLists) {
      hdf5::write_strings_dataset(names.get(), list.name, layout.*list.member);
    }
    record->training_.create(file, layout, path);
    record->evaluation_.create(file, layout, path);
    SnapshotWriter::create(file, layout, path);
    record->file_.start_swmr();
  } catch (...) {
    // The half-made file holds nothing yet; leaving it would block a rerun under the same name.
    record->file_.close();
    fs::remove(path);
    throw;
  }
  return record;
}

std::unique_ptr<RunRecord> RunRecord::resume(const std::string& path, int64_t last_step) {
  if (!fs::exists(path)) throw RunError("no record to resume at " + path);
  hdf5::QuietErrors quiet;
  std::unique_ptr<RunRecord> record(new RunRecord(RecordFile::existing(path), RecordLayout{}));
  // Repairs, in the copy, what a killed writer leaves (as `h5clear -s --increment=0` would).
  record->file_.edit_copy(true, [&] {
    hid_t file = record->file_.get();
    record_format::check_format(file, path);
    record->layout_ = record_format::read_layout(file, path);
    auto steps_of = [&](const char* group) {
      return hdf5::read_integers(file, std::string(group) + "/" + schema::kStep, path);
    };
    std::vector<int64_t> steps = steps_of(schema::kTraining);
    record->training_.stored().keep_first(file, schema::kTraining, steps,
                                          rows_up_to(steps, last_step), path);
    steps = steps_of(schema::kEvaluation);
    int64_t keep = rows_up_to(steps, last_step);
    // The final rows come last; a run killed while finishing writes them again.
    std::vector<std::string> splits = hdf5::read_strings_dataset(
        file, std::string(schema::kEvaluation) + "/" + schema::kSplit, path);
    while (keep > 0 && schema::is_final_split(splits[keep - 1])) --keep;
    record->evaluation_.stored().keep_first(file, schema::kEvaluation, steps, keep, path);
    steps = steps_of(schema::kSnapshots);
    record->snapshots_.stored().keep_first(file, schema::kSnapshots, steps,
                                           rows_up_to(steps, last_step), path);
    if (hdf5::exists(file, schema::kPredictions)) {
      check(H5Ldelete(file, schema::kPredictions, H5P_DEFAULT),
            path + ": cannot drop the predictions of an earlier finish");
    }
    Handle origin = hdf5::open_group(file, schema::kProvenance, path);
    // Rewritten below, so checked first: a damaged provenance is named, not blessed.
    hdf5::check_attributes(origin.get(), path);
    std::vector<std::string> resumed;
    if (H5Aexists(origin.get(), schema::kResumedAt) > 0) {
      resumed = hdf5::read_strings_attribute(origin.get(), schema::kResumedAt, path);
    }
    resumed.push_back(now_iso8601());
    hdf5::write_attribute(origin.get(), schema::kResumedAt, resumed);
    hdf5::write_attribute(origin.get(), schema::kState,
                          std::string(to_string(RecordState::Running)));
    hdf5::write_attribute(origin.get(), schema::kEndTime, std::string());
    hdf5::write_integer_attribute(origin.get(), schema::kBestStep, -1);
  });
  record->file_.reopen_swmr();
  return record;
}

void RunRecord::require_open(const char* operation) const {
  if (finished_ || !file_) {
    throw RunError(std::string("cannot ") + operation + ": the record " + path() +
                   " is already finished");
  }
}

void RunRecord::append_training(const TrainingRow& row) {
  require_open("append a training row");
  if (row.pair_distances.size() != layout_.pair_names.size()) {
    throw RunError(path() + ": training row at step " + std::to_string(row.step) + " has " +
                   std::to_string(row.pair_distances.size()) + " pair distances, the layout has " +
                   std::to_string(layout_.pair_names.size()) + " layer pairs");
  }
  const std::optional<int64_t>& last = training_.stored().last_step;
  if (last && row.step <= *last) {
    throw RunError(path() + ": training row at step " + std::to_string(row.step) +
                   " does not follow the previous row's step " + std::to_string(*last));
  }
  training_.append(row);
}

void RunRecord::append_evaluation(const EvaluationRow& row) {
  require_open("append an evaluation row");
  if (row.split.empty() || row.split.size() > static_cast<size_t>(schema::kSplitWidth)) {
    throw RunError(path() + ": evaluation split '" + row.split + "' must have 1 to " +
                   std::to_string(schema::kSplitWidth) + " characters");
  }
  for (const auto& [name, value] : row.measures) {
    if (std::find(layout_.measure_names.begin(), layout_.measure_names.end(), name) ==
        layout_.measure_names.end()) {
      throw RunError(path() + ": evaluation measure '" + name +
                     "' is not among the record's measures");
    }
  }
  const std::optional<int64_t>& last = evaluation_.stored().last_step;
  if (last && row.step < *last) {
    throw RunError(path() + ": evaluation at step " + std::to_string(row.step) +
                   " comes after one at step " + std::to_string(*last));
  }
  evaluation_.append(row);
}

void RunRecord::flush() {
  require_open("flush");
  if (training_.has_pending() || evaluation_.has_pending()) {
    int64_t last = std::max(training_.stored().last_step.value_or(0),
                            evaluation_.stored().last_step.value_or(0));
    file_.require_space(training_.pending_bytes(layout_) + evaluation_.pending_bytes(layout_),
                        "the rows up to step " + std::to_string(last));
  }
  hdf5::QuietErrors quiet;
  training_.write(file_.get(), layout_, path());
  evaluation_.write(file_.get(), layout_, path());
  file_.flush();
}

void RunRecord::write_probe(const torch::Tensor& indices, const torch::Tensor& labels,
                            const std::optional<ExampleSource>& source) {
  require_open("write the probe set");
  const std::string& path = this->path();
  if (indices.dim() != 1 || labels.dim() < 1 || labels.dim() > 2 ||
      labels.size(0) != indices.size(0) ||
      (source && (source->rows.dim() != 1 || source->rows.size(0) != indices.size(0)))) {
    throw RunError(path + ": probe indices must be [n], labels [n] or [n, L] and source rows [n]; "
                   "got " + c10::str(indices.sizes()) + ", " + c10::str(labels.sizes()) +
                   (source ? " and " + c10::str(source->rows.sizes()) : std::string()));
  }
  hdf5::QuietErrors quiet;
  const std::string group = std::string(schema::kProbe) + "/";
  std::vector<std::pair<std::string, torch::Tensor>> parts = {
      {group + schema::kProbeIndices, indices.to(torch::kCPU, torch::kLong).contiguous()},
      {group + schema::kProbeLabels, labels.to(torch::kCPU, torch::kLong).contiguous()}};
  if (source) {
    parts.push_back({group + schema::kProbeSourceRows,
                     source->rows.to(torch::kCPU, torch::kLong).contiguous()});
  }
  if (hdf5::exists(file_.get(), parts[0].first)) {
    for (const auto& [dataset, values] : parts) {
      // A record written before sources were recorded has none to compare.
      if (!hdf5::exists(file_.get(), dataset)) continue;
      std::vector<int64_t> stored = hdf5::read_integers(file_.get(), dataset, path);
      std::vector<hsize_t> shape =
          hdf5::shape_of(hdf5::open_dataset(file_.get(), dataset, path).get());
      bool same = shape.size() == static_cast<size_t>(values.dim()) &&
                  static_cast<int64_t>(stored.size()) == values.numel() &&
                  std::equal(stored.begin(), stored.end(), values.data_ptr<int64_t>());
      if (!same) {
        throw RunError(path + ": dataset '" + dataset +
                       "' already holds a different probe set than the one being written");
      }
    }
    return;
  }
  file_.change_structure([&] {
    hdf5::create_group(file_.get(), schema::kProbe, path);
    for (const auto& [dataset, values] : parts) {
      hdf5::write_dataset(file_.get(), dataset, H5T_STD_I64LE,
                          std::vector<hsize_t>(values.sizes().begin(), values.sizes().end()),
                          H5T_NATIVE_INT64, values.data_ptr<int64_t>(), path);
    }
    if (source) {
      hdf5::Handle rows = hdf5::open_dataset(file_.get(), parts.back().first, path);
      hdf5::write_attribute(rows.get(), schema::kProbeSourcePart, source->part);
    }
  });
}

void RunRecord::write_snapshot(int64_t step, const SnapshotSource& source,
                               const std::vector<std::shared_ptr<Metric>>& metrics) {
  require_open("write a snapshot");
  snapshots_.write(step, source, metrics);
  flush();
}

void RunRecord::write_snapshot(int64_t step, const std::vector<torch::Tensor>& guide_activations,
                               const std::vector<torch::Tensor>& target_activations,
                               const std::vector<std::shared_ptr<Metric>>& metrics) {
  auto count_error = [&](const std::string& what, size_t given, size_t expected) {
    return RunError(path() + ": snapshot at step " + std::to_string(step) + " has " +
                    std::to_string(given) + " " + what + ", the layout has " +
                    std::to_string(expected));
  };
  if (guide_activations.size() != layout_.guide_taps.size()) {
    throw count_error("guide activations", guide_activations.size(), layout_.guide_taps.size());
  }
  if (target_activations.size() != layout_.target_taps.size()) {
    throw count_error("target activations", target_activations.size(), layout_.target_taps.size());
  }
  SnapshotSource source;
  source.examples = target_activations.empty() ? 0 : target_activations.front().size(0);
  for (const auto& activations : {guide_activations, target_activations}) {
    for (const auto& activation : activations) {
      if (activation.dim() == 0 || activation.size(0) != source.examples) {
        throw RunError(path() + ": snapshot at step " + std::to_string(step) +
                       " has activations of " + c10::str(activation.sizes()) +
                       " where every tap "
                       "needs the same " +
                       std::to_string(source.examples) + " examples");
      }
    }
  }
  source.batch_size = source.examples;
  source.activations = [&](const std::string& side, int64_t begin, int64_t end) {
    std::vector<torch::Tensor> rows;
    for (const auto& tap : side == schema::kGuide ? guide_activations : target_activations) {
      rows.push_back(tap.narrow(0, begin, end - begin));
    }
    return rows;
  };
  write_snapshot(step, source, metrics);
}

void RunRecord::finish(RecordState state, const std::string& end_time,
                       const FinalResults& results) {
  if (finished_) throw RunError("cannot finish: the record " + path() + " is already finished");
  if (state == RecordState::Running) {
    throw RunError(path() + ": final state '" + to_string(state) +
                   "' is the state of a run that has not ended");
  }
  if (file_) {
    try {
      flush();
    } catch (const RunError&) {
      // A failed run's unwritten rows all follow its last checkpoint, so a resume redoes them;
      // its state is still worth recording.
      if (state != RecordState::Failed) throw;
    }
  }
  hdf5::QuietErrors quiet;
  // Attributes cannot change under SWMR: edit_copy() closes the file and changes a copy.
  file_.edit_copy(false, [&] {
    hid_t file = file_.get();
    Handle origin = hdf5::open_group(file, schema::kProvenance, path());
    // A damaged record is never marked completed: the copy, fresh from disk, is read whole first.
    // Any other state is written once the provenance it rewrites is intact.
    if (state == RecordState::Completed) {
      record_verify::require_intact(file, path());
    } else {
      hdf5::check_attributes(origin.get(), path());
    }
    hdf5::write_attribute(origin.get(), schema::kState, std::string(to_string(state)));
    hdf5::write_attribute(origin.get(), schema::kEndTime, end_time);
    hdf5::write_integer_attribute(origin.get(), schema::kBestStep, results.best_step);
    origin.close();
    if (results.predictions.empty()) return;
    hdf5::create_group(file, schema::kPredictions, path());
    for (const auto& [network, predictions] : results.predictions) {
      write_predictions(file, network, predictions, path());
    }
  });
  finished_ = true;
}

}  // namespace guidance
