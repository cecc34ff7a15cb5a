#include "analysis/RecordReader.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <variant>

#include <torch/torch.h>

#include "host/common/Errors.h"

namespace guidance::analysis {

namespace schema = record_schema;
using hdf5::check;
using hdf5::checked;
using hdf5::Handle;

namespace {

// Reads element `index` of the leading dimension of a [S, ...] dataset of the record `file` into
// `buffer`.
void read_slab(hid_t dataset, size_t index, hid_t memory_type, void* buffer,
               const std::string& file, const std::string& context) {
  std::vector<hsize_t> dims = hdf5::shape_of(dataset);
  if (dims.empty() || index >= dims[0]) {
    throw RunError(context + ": no entry " + std::to_string(index));
  }
  std::vector<hsize_t> start(dims.size(), 0);
  std::vector<hsize_t> count = dims;
  start[0] = index;
  count[0] = 1;
  hdf5::read_block(dataset, memory_type, start, count, buffer, file);
}

// Reads a table as its schema lays it out: step, the columns, then one column per label of the
// labelled column, named `prefix` + label. Rows past the step column's length are incomplete.
template <typename Row>
Table read_table(hid_t file, const std::string& path, const record_schema::Table<Row>& schema,
                 const RecordLayout& layout, const std::string& prefix) {
  std::string group = std::string(schema.group) + "/";
  std::vector<double> steps = hdf5::read_doubles(file, group + record_schema::kStep, path);
  size_t rows = steps.size();
  Table table;
  table.columns.push_back({record_schema::kStep, steps, {}});
  for (const auto& column : schema.columns) {
    std::string dataset = group + column.name;
    Table::Column read{column.name, {}, {}};
    if (!hdf5::exists(file, dataset)) {
      // A column added after the record was written (e.g. distill_loss): no values.
      read.numbers.assign(rows, std::nan(""));
    } else if (std::holds_alternative<std::string Row::*>(column.member)) {
      read.texts = hdf5::read_strings_dataset(file, dataset, path);
      read.texts.resize(rows);
    } else {
      read.numbers = hdf5::read_doubles(file, dataset, path);
      read.numbers.resize(rows);
    }
    table.columns.push_back(std::move(read));
  }
  const std::vector<std::string>& labels = layout.*schema.labels;
  std::vector<double> values = hdf5::read_doubles(file, group + schema.labelled, path);
  for (size_t c = 0; c < labels.size(); ++c) {
    Table::Column column{prefix + labels[c], {}, {}};
    for (size_t row = 0; row < rows; ++row) column.numbers.push_back(values.at(row * labels.size() + c));
    table.columns.push_back(std::move(column));
  }
  return table;
}

}  // namespace

RecordReader::RecordReader(const std::string& path)
    : path_(path), file_(record_format::open_for_reading(path)) {
  hdf5::QuietErrors quiet;
  layout_ = record_format::read_layout(file_.get(), path);
}

std::string RecordReader::config() const {
  hdf5::QuietErrors quiet;
  return hdf5::read_strings_dataset(file_.get(), schema::kConfig, path_).at(0);
}

std::vector<std::pair<std::string, std::string>> RecordReader::provenance() const {
  hdf5::QuietErrors quiet;
  Handle origin = hdf5::open_group(file_.get(), schema::kProvenance, path_);
  std::vector<std::pair<std::string, std::string>> entries;
  auto text = [&](const char* name) {
    entries.emplace_back(name, hdf5::read_string_attribute(origin.get(), name, path_));
  };
  for (const auto& attribute : schema::kProvenanceTexts) text(attribute.name);
  for (const char* name : {schema::kHdf5Version, schema::kEndTime, schema::kState}) text(name);
  entries.emplace_back(schema::kSeed, std::to_string(hdf5::read_unsigned_attribute(
                                          origin.get(), schema::kSeed, path_)));
  entries.emplace_back(schema::kThreads, std::to_string(hdf5::read_integer_attribute(
                                             origin.get(), schema::kThreads, path_)));
  entries.emplace_back(schema::kBestStep, std::to_string(best_step()));
  if (H5Aexists(origin.get(), schema::kResumedAt) > 0) {
    for (const auto& time : hdf5::read_strings_attribute(origin.get(), schema::kResumedAt, path_)) {
      entries.emplace_back(schema::kResumedAt, time);
    }
  }
  for (const RecordPlugin& plugin : plugins()) {
    entries.emplace_back("plugin " + plugin.kind,
                         plugin.name + " " + plugin.version + " (" + plugin.library + ")");
  }
  return entries;
}

std::vector<RecordPlugin> RecordReader::plugins() const {
  hdf5::QuietErrors quiet;
  std::vector<RecordPlugin> plugins;
  for (const auto& column : schema::kPluginColumns) {
    std::vector<std::string> values =
        hdf5::read_strings_dataset(file_.get(), schema::plugins_path() + "/" + column.name, path_);
    plugins.resize(std::max(plugins.size(), values.size()));
    for (size_t i = 0; i < values.size(); ++i) plugins[i].*column.member = values[i];
  }
  return plugins;
}

RecordState RecordReader::state() const {
  hdf5::QuietErrors quiet;
  return record_format::read_state(file_.get(), path_);
}

int64_t RecordReader::best_step() const {
  hdf5::QuietErrors quiet;
  Handle origin = hdf5::open_group(file_.get(), schema::kProvenance, path_);
  if (H5Aexists(origin.get(), schema::kBestStep) <= 0) return -1;  // format version 1
  return hdf5::read_integer_attribute(origin.get(), schema::kBestStep, path_);
}

Table RecordReader::training() const {
  hdf5::QuietErrors quiet;
  return read_table(file_.get(), path_, schema::kTrainingTable, layout_, "distance ");
}

Table RecordReader::evaluation() const {
  hdf5::QuietErrors quiet;
  return read_table(file_.get(), path_, schema::kEvaluationTable, layout_, "");
}

Table RecordReader::probe() const {
  hdf5::QuietErrors quiet;
  std::string group = std::string(schema::kProbe) + "/";
  if (!hdf5::exists(file_.get(), schema::kProbe)) {
    throw RunError(path_ + ": no probe set recorded (group '/" + schema::kProbe + "' is missing)");
  }
  std::vector<int64_t> indices =
      hdf5::read_integers(file_.get(), group + schema::kProbeIndices, path_);
  std::vector<int64_t> labels =
      hdf5::read_integers(file_.get(), group + schema::kProbeLabels, path_);
  Table table;
  table.columns.push_back({"index", std::vector<double>(indices.begin(), indices.end()), {}});
  size_t width = indices.empty() ? 1 : labels.size() / indices.size();
  for (size_t c = 0; c < width; ++c) {
    Table::Column column{width == 1 ? "label" : "label_" + std::to_string(c), {}, {}};
    for (size_t row = 0; row < indices.size(); ++row) {
      column.numbers.push_back(static_cast<double>(labels.at(row * width + c)));
    }
    table.columns.push_back(std::move(column));
  }
  const std::string source = group + schema::kProbeSourceRows;
  if (hdf5::exists(file_.get(), source)) {
    std::vector<int64_t> rows = hdf5::read_integers(file_.get(), source, path_);
    if (rows.size() != indices.size()) {
      throw RunError(path_ + ": dataset '" + source + "' holds " + std::to_string(rows.size()) +
                     " rows for " + std::to_string(indices.size()) + " probe examples");
    }
    std::string part = hdf5::read_string_attribute(
        hdf5::open_dataset(file_.get(), source, path_).get(), schema::kProbeSourcePart, path_);
    table.columns.push_back({"source_part", {}, std::vector<std::string>(rows.size(), part)});
    table.columns.push_back({"source_row", std::vector<double>(rows.begin(), rows.end()), {}});
  }
  return table;
}

bool RecordReader::has_predictions(const std::string& network) const {
  hdf5::QuietErrors quiet;
  return hdf5::exists(file_.get(), schema::predictions_path(network) + "/" + schema::kCorrect);
}

Predictions RecordReader::predictions(const std::string& network) const {
  hdf5::QuietErrors quiet;
  std::string group = schema::predictions_path(network);
  if (!has_predictions(network)) {
    throw RunError(path_ + ": no per-example predictions of the " + network + " (group '" +
                   group + "' is missing; records of older runs do not have them)");
  }
  Predictions predictions;
  auto read = [&](const char* name) {
    return hdf5::read_integers(file_.get(), group + "/" + name, path_);
  };
  predictions.indices = read(schema::kPredictionIndices);
  predictions.predicted = read(schema::kPredicted);
  std::vector<int64_t> correct = read(schema::kCorrect);
  predictions.correct.assign(correct.begin(), correct.end());
  const size_t n = predictions.indices.size();
  if (n > 0) predictions.width = correct.size() / n;
  if (predictions.width * n != correct.size() || predictions.predicted.size() != correct.size()) {
    throw RunError(path_ + ": '" + group + "' has " + std::to_string(n) + " indices but " +
                   std::to_string(correct.size()) + " correctness and " +
                   std::to_string(predictions.predicted.size()) + " prediction values");
  }
  return predictions;
}

std::vector<int64_t> RecordReader::snapshot_steps() const {
  hdf5::QuietErrors quiet;
  return hdf5::read_integers(file_.get(), std::string(schema::kSnapshots) + "/" + schema::kStep,
                             path_);
}

size_t RecordReader::snapshot_index(int64_t step) const {
  std::vector<int64_t> steps = snapshot_steps();
  std::string listed;
  for (size_t i = 0; i < steps.size(); ++i) {
    if (steps[i] == step) return i;
    listed += (listed.empty() ? "" : ", ") + std::to_string(steps[i]);
  }
  throw RunError(path_ + ": no snapshot at step " + std::to_string(step) + " (snapshots: " +
                 (listed.empty() ? "none" : listed) + ")");
}

SimilarityMatrix RecordReader::similarity(const std::string& metric, const std::string& which,
                                          size_t snapshot) const {
  hdf5::QuietErrors quiet;
  std::string dataset = schema::similarity_path(metric, which);
  Handle handle = hdf5::open_dataset(file_.get(), dataset, path_);
  SimilarityMatrix matrix;
  matrix.metric = metric;
  matrix.rows = hdf5::read_string_attribute(handle.get(), schema::kRowsSide, path_);
  matrix.columns = hdf5::read_string_attribute(handle.get(), schema::kColumnsSide, path_);
  matrix.row_labels = hdf5::read_strings_attribute(handle.get(), schema::kRowLabels, path_);
  matrix.column_labels = hdf5::read_strings_attribute(handle.get(), schema::kColumnLabels, path_);
  matrix.values.resize(matrix.row_labels.size() * matrix.column_labels.size());
  std::vector<int64_t> steps = snapshot_steps();
  if (snapshot >= steps.size()) {
    throw RunError(path_ + ": no snapshot " + std::to_string(snapshot) + " in '" + dataset +
                   "' (the record has " + std::to_string(steps.size()) + ")");
  }
  matrix.step = steps[snapshot];
  read_slab(handle.get(), snapshot, H5T_NATIVE_DOUBLE, matrix.values.data(), path_,
            path_ + ": dataset '" + dataset + "'");
  return matrix;
}

torch::Tensor RecordReader::activation(const std::string& side, const std::string& tap,
                                       size_t snapshot) const {
  hdf5::QuietErrors quiet;
  return record_format::read_activation(file_.get(), path_, side, tap, snapshot);
}

std::vector<int64_t> RecordReader::example_shape(const std::string& side,
                                                 const std::string& tap) const {
  hdf5::QuietErrors quiet;
  return record_format::read_example_shape(file_.get(), path_, side, tap);
}

FinalEvaluationRows final_evaluation_rows(const Table& evaluation) {
  FinalEvaluationRows final_rows;
  if (!evaluation.has(schema::kSplit)) return final_rows;
  std::vector<std::pair<std::string, size_t>>& rows = final_rows.rows;
  const std::vector<std::string>& splits = evaluation.column(schema::kSplit).texts;
  const size_t prefix = std::string(schema::kFinalSplitPrefix).size();
  for (size_t row = 0; row < splits.size(); ++row) {
    if (schema::is_final_split(splits[row])) rows.emplace_back(splits[row].substr(prefix), row);
  }
  final_rows.best_weights = !rows.empty();
  if (final_rows.best_weights) return final_rows;
  for (size_t row = 0; row < splits.size(); ++row) {
    auto same = [&](const auto& chosen) { return chosen.first == splits[row]; };
    auto found = std::find_if(rows.begin(), rows.end(), same);
    if (found == rows.end()) {
      rows.emplace_back(splits[row], row);
    } else {
      found->second = row;
    }
  }
  return final_rows;
}

}  // namespace guidance::analysis
