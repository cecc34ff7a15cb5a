#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <torch/types.h>

#include "analysis/Table.h"
#include "host/recording/Hdf5.h"
#include "host/recording/RecordFormat.h"
#include "host/recording/RecordSchema.h"

namespace guidance::analysis {

/// A similarity matrix of one snapshot: entry (i, j) compares row tap i with column tap j.
struct SimilarityMatrix {
  std::string metric;   ///< e.g. "linear-cka"
  std::string rows;     ///< what the rows are, e.g. "guide" (or a record's name in comparisons)
  std::string columns;  ///< e.g. "target"
  std::vector<std::string> row_labels;
  std::vector<std::string> column_labels;
  std::vector<double> values;  ///< row-major [row_labels.size(), column_labels.size()]
  int64_t step = 0;

  double at(size_t row, size_t column) const { return values[row * column_labels.size() + column]; }
};

/// Reads a run record (docs/record-format.md) with the HDF5 C API, as a SWMR reader, so records
/// of live and of killed runs can be read too. Every error is a RunError naming the file.
class RecordReader {
 public:
  /// Opens a record; throws RunError naming `path` if it is missing or not a run record.
  explicit RecordReader(const std::string& path);

  const std::string& path() const { return path_; }
  const RecordLayout& layout() const { return layout_; }

  /// @return the resolved config (TOML text).
  std::string config() const;

  /// @return the provenance as (name, value) text pairs: versions, host, seed, threads, times,
  /// state, then one "plugin <kind>" entry per plugin ("name version (library)").
  std::vector<std::pair<std::string, std::string>> provenance() const;

  /// @return the plugins the run used, with the libraries they came from.
  std::vector<RecordPlugin> plugins() const;

  /// @return the completion state: Running (live, or killed), Completed, Interrupted, Failed.
  RecordState state() const;

  /// @return the step whose weights the final ("best/<split>") evaluation rows evaluate; -1 until
  /// the run completes (and for records of format version 1, which have no final rows).
  int64_t best_step() const;

  /// @return the training time series: step, epoch, learning_rate, total_loss, task_loss,
  /// guidance_loss, then one "distance <pair>" column per layer pair.
  Table training() const;

  /// @return the evaluations: step, epoch, split, loss, then one column per measure.
  Table evaluation() const;

  /// @return the probe set: index, then label (or label_0.. label_{L-1} for [n, L] labels), then
  /// source_part and source_row where the record says where the examples lie in the data read.
  Table probe() const;

  /// @return whether the record holds per-example predictions of `network` ("target", "guide").
  bool has_predictions(const std::string& network) const;

  /// @return the per-example test predictions of `network`; throws RunError naming the record
  /// when it has none.
  Predictions predictions(const std::string& network) const;

  /// @return the steps of the snapshots, in order.
  std::vector<int64_t> snapshot_steps() const;

  /// @return the index of the snapshot at `step`; throws RunError listing the steps there are.
  size_t snapshot_index(int64_t step) const;

  /// @return the recorded similarity matrix `which` ("guide_target", "target_target" or
  /// "guide_guide") of `metric` at snapshot index `snapshot`.
  SimilarityMatrix similarity(const std::string& metric, const std::string& which,
                              size_t snapshot) const;

  /// @return the stored activations of a tap at snapshot index `snapshot`, as float32
  /// [n, features] (float16 records are widened). Reads that tap only.
  torch::Tensor activation(const std::string& side, const std::string& tap,
                           size_t snapshot) const;

  /// @return the shape of one example of a tap, without the example axis (e.g. {64, 14, 14}):
  /// activation(side, tap, s).reshape(n, example_shape) restores the tap's activations. Records
  /// of format version 2 and older give the flattened {features}.
  std::vector<int64_t> example_shape(const std::string& side, const std::string& tap) const;

 private:
  std::string path_;
  hdf5::Handle file_;
  RecordLayout layout_;
};

/// The rows of an evaluation table that hold a run's final measures (final_evaluation_rows()).
struct FinalEvaluationRows {
  /// (split without the "best/" prefix, row of the evaluation table), in the order of the rows
  std::vector<std::pair<std::string, size_t>> rows;
  /// whether the rows are the final rows ("best/<split>") of the weights reloaded after
  /// training; false: each split's last row
  bool best_weights = false;
};

/// A run's final measures, by the one rule every reader applies (summarize, the reports, the
/// Python reader's final_evaluation): where the record has final rows, the rows of the weights
/// reloaded after training ("best/<split>"); else (a live, killed or format version 1 record)
/// each split's last row.
FinalEvaluationRows final_evaluation_rows(const Table& evaluation);

}  // namespace guidance::analysis
