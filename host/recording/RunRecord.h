#pragma once

#include <torch/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "guidance/api/Dataset.h"
#include "guidance/api/Metric.h"
#include "host/recording/RecordFile.h"
#include "host/recording/RecordSchema.h"
#include "host/recording/SnapshotWriter.h"
#include "host/recording/TableWriter.h"

namespace guidance {

/// What a completed run adds to its record when it finishes.
struct FinalResults {
  int64_t best_step = -1;  ///< the step whose weights the final ("best/...") rows evaluate
  std::map<std::string, Predictions> predictions;  ///< by network: "target", and "guide"
};

/// A run's HDF5 record (docs/record-format.md), written while the run trains: the provenance and
/// layout once, the training and evaluation tables (TableWriter), the probe set, snapshots
/// (SnapshotWriter) and, at the end, the state and predictions.
///
/// The file is in HDF5's single-writer/multiple-reader (SWMR) mode whenever this object is not
/// creating objects, so readers may open it while it grows (h5py: `File(path, "r", swmr=True)`),
/// and a killed writer leaves a file holding everything up to its last flush(). Rows are buffered
/// in memory and written by flush(); the number of complete rows of a table is the length of its
/// `step` column, which is always written last.
///
/// Every error is a RunError naming the file and the dataset or value at fault.
class RunRecord {
 public:
  /// Creates a record at `path`, creating missing parent directories. Refuses to overwrite an
  /// existing file, and checks that the directory is writable and has space for at least a first
  /// flush, before creating anything; the error names the path.
  static std::unique_ptr<RunRecord> create(const std::string& path, const Provenance& provenance,
                                           const RecordLayout& layout);

  /// Reopens a record to continue a run from the checkpoint taken at `last_step`: drops every
  /// training and evaluation row and every snapshot with step > last_step (written after that
  /// checkpoint), and the final ("best/...") rows of a run killed while finishing, so that
  /// appending from there neither duplicates nor loses rows. Works on the record of a killed run;
  /// the changes are made to a copy renamed over it, so a kill while resuming loses nothing. Sets
  /// the state back to "running" and appends the time to the provenance attribute `resumed_at`.
  /// The record keeps its format version. The run must not be running elsewhere.
  static std::unique_ptr<RunRecord> resume(const std::string& path, int64_t last_step);

  /// Flushes (errors ignored) and closes the file if finish() was not called; the state stays
  /// "running".
  ~RunRecord();
  RunRecord(const RunRecord&) = delete;
  RunRecord& operator=(const RunRecord&) = delete;

  /// @return the file's path.
  const std::string& path() const { return file_.path(); }
  /// @return the layout it was created with (read back from the file after resume()).
  const RecordLayout& layout() const { return layout_; }

  /// Buffers one training row (written by the next flush()).
  /// Throws if pair_distances does not have one value per layout pair.
  void append_training(const TrainingRow& row);

  /// Buffers one evaluation row (written by the next flush()). Measures absent from the row are
  /// stored as NaN; a measure not in the layout is refused.
  void append_evaluation(const EvaluationRow& row);

  /// Writes the probe set once: example indices (int64 [n]) and their labels (int64 [n] or
  /// [n, L]), and where the examples lie in the data read when the dataset says (`source`, rows
  /// int64 [n]). Called again (e.g. after resume()) it checks the values are the same ones.
  void write_probe(const torch::Tensor& indices, const torch::Tensor& labels,
                   const std::optional<ExampleSource>& source = std::nullopt);

  /// Writes one snapshot at `step` (SnapshotWriter::write()), then flushes.
  /// @param metrics parallel to layout().metrics
  void write_snapshot(int64_t step, const SnapshotSource& source,
                      const std::vector<std::shared_ptr<Metric>>& metrics);

  /// write_snapshot() of activations already in memory, as one batch.
  /// @param guide_activations parallel to layout().guide_taps, each [n, ...]
  /// @param target_activations parallel to layout().target_taps, each [n, ...]
  void write_snapshot(int64_t step, const std::vector<torch::Tensor>& guide_activations,
                      const std::vector<torch::Tensor>& target_activations,
                      const std::vector<std::shared_ptr<Metric>>& metrics);

  /// Writes every buffered row and makes everything written so far durable and visible to SWMR
  /// readers. A failure (e.g. a full disk) leaves the rows buffered and the file as of the last
  /// successful flush.
  void flush();

  /// Flushes, closes the file and records the completion state, the end time and, for a
  /// completed run, the best step and the predictions. These changes are made to a copy renamed
  /// over the record, so a kill at any instant leaves the record as it was or as finished. Before
  /// a record becomes "completed" it is read whole (record_verify::require_intact): a damaged one
  /// is refused with a RunError naming each damaged object, and keeps its state.
  /// @param state a final state: not RecordState::Running
  /// @param end_time ISO 8601
  void finish(RecordState state, const std::string& end_time, const FinalResults& results = {});

 private:
  RunRecord(RecordFile file, RecordLayout layout);

  void require_open(const char* operation) const;

  RecordFile file_;
  RecordLayout layout_;
  bool finished_ = false;
  TableWriter<TrainingRow> training_{record_schema::kTrainingTable};
  TableWriter<EvaluationRow> evaluation_{record_schema::kEvaluationTable};
  SnapshotWriter snapshots_{file_, layout_};
};

}  // namespace guidance
