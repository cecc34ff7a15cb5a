#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torch/types.h>

#include "guidance/api/Metric.h"
#include "host/recording/Hdf5.h"
#include "host/recording/RecordFormat.h"

namespace guidance {

/// A plugin a run used, as recorded in its provenance.
struct RecordPlugin {
  std::string kind;     ///< "architecture", "dataset", "metric" or "guide-init"
  std::string name;     ///< the lookup name configs use
  std::string version;  ///< the plugin's own version
  std::string library;  ///< path of the shared library it came from
};

/// Where a run came from: everything needed to reproduce it.
struct Provenance {
  std::string workbench_version;  ///< GUIDANCE_VERSION of the binary that ran it
  std::string torch_version;      ///< LibTorch version, e.g. "1.13.1"
  std::string host;               ///< host name of the machine
  std::string config_path;        ///< the config file the run was started from
  std::string config_toml;        ///< the resolved config (defaults filled in), as TOML text
  std::string start_time;         ///< ISO 8601, e.g. "2024-05-01T12:00:00Z"
  uint64_t seed = 0;              ///< the run's seed
  int threads = 1;                ///< torch intra-op threads
  std::vector<RecordPlugin> plugins;
};

/// One training step's losses.
struct TrainingRow {
  int64_t step = 0;
  int64_t epoch = 0;
  double learning_rate = 0.0;
  double total_loss = 0.0;     ///< task + α · guidance
  double task_loss = 0.0;
  double guidance_loss = 0.0;  ///< Σ over layer pairs of the metric's distance (before α)
  double distill_loss = 0.0;   ///< distillation KL, T²-scaled, before its weight (0 when off)
  std::vector<double> pair_distances;  ///< one per layer pair, in the order of pair_names
};

/// One evaluation of the target on a split.
struct EvaluationRow {
  int64_t step = 0;
  int64_t epoch = 0;
  std::string split;  ///< "train", "validation" or "test" (at most 16 ASCII characters)
  double loss = 0.0;
  std::map<std::string, double> measures;  ///< keys among RecordLayout::measure_names
};

/// Per-example predictions of one network on the test split (docs/record-format.md).
struct Predictions {
  torch::Tensor indices;    ///< int64 [N]: the test examples
  torch::Tensor predicted;  ///< int64 [N] (a class) or [N, L] (a token per position)
  torch::Tensor correct;    ///< int8, the shape of `predicted`: 1 right, 0 wrong, -1 not scored
};

/// What a completed run adds to its record when it finishes.
struct FinalResults {
  int64_t best_step = -1;  ///< the step whose weights the final ("best/...") rows evaluate
  std::map<std::string, Predictions> predictions;  ///< by network: "target", and "guide"
};

/// Similarity of every row activation with every column activation, without gradients.
/// Each activation is [n, ...] over the same n examples, flattened to [n, features] and cast to
/// float32 before metric.similarity() sees it; pairs are computed one at a time, so no more than
/// two flattened activations are made at once.
/// @return float64 [rows.size(), columns.size()], entry (i, j) = similarity(rows[i], columns[j]).
torch::Tensor similarity_matrix(const Metric& metric, const std::vector<torch::Tensor>& rows,
                                const std::vector<torch::Tensor>& columns);

/// @return the stored activations of tap `tap` of `side` ("guide" or "target") at snapshot index
/// `snapshot` of an open record, as float32 [n, features] (float16 records are widened). Reads
/// that tap only. Throws RunError naming `file_name` and the dataset.
torch::Tensor read_snapshot_activation(hid_t file, const std::string& file_name,
                                       const std::string& side, const std::string& tap,
                                       size_t snapshot);

/// Loads activation `index` ([n, ...]) of one side of a similarity matrix on demand.
using ActivationLoader = std::function<torch::Tensor(size_t index)>;

/// similarity_matrix() over activations loaded on demand: row i is loaded once and held while
/// every column is loaded in turn, so the loaders decide how much stays in memory.
torch::Tensor similarity_matrix(const Metric& metric, size_t rows, const ActivationLoader& row,
                                size_t columns, const ActivationLoader& column);

/// A snapshot's activations, produced one probe batch at a time: while they are written no more
/// than one batch of one network's taps is in memory.
struct SnapshotSource {
  int64_t examples = 0;    ///< n, the number of probe examples
  int64_t batch_size = 0;  ///< probe rows per call of `activations` (the last call may get fewer)
  /// @return the taps of `side` ("guide" or "target") on probe rows [begin, end), each
  /// [end − begin, ...], parallel to the layout's taps of that side.
  std::function<std::vector<torch::Tensor>(const std::string& side, int64_t begin, int64_t end)>
      activations;
  /// Most bytes of stored activations (as float32) held in memory while the similarity matrices
  /// are computed; taps beyond it are read from the file again when needed.
  uint64_t similarity_memory_bytes = uint64_t{1} << 30;
};

/// A run's HDF5 record (docs/record-format.md), written while the run trains.
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
  /// the changes are made to a copy renamed over it, so a kill while resuming loses nothing. Sets the state back to "running" and appends the time to the
  /// provenance attribute `resumed_at`. The run must not be running elsewhere.
  static std::unique_ptr<RunRecord> resume(const std::string& path, int64_t last_step);

  /// Flushes (errors ignored) and closes the file if finish() was not called; the state stays
  /// "running".
  ~RunRecord();
  RunRecord(const RunRecord&) = delete;
  RunRecord& operator=(const RunRecord&) = delete;

  /// @return the file's path.
  const std::string& path() const { return path_; }
  /// @return the layout it was created with (read back from the file after resume()).
  const RecordLayout& layout() const { return layout_; }

  /// Buffers one training row (written by the next flush()).
  /// Throws if pair_distances does not have one value per layout pair.
  void append_training(const TrainingRow& row);

  /// Buffers one evaluation row (written by the next flush()). Measures absent from the row are
  /// stored as NaN; a measure not in the layout is refused.
  void append_evaluation(const EvaluationRow& row);

  /// Writes the probe set once: example indices (int64 [n]) and their labels (int64 [n] or
  /// [n, L]). Called again (e.g. after resume()) it checks the values are the same ones.
  void write_probe(const torch::Tensor& indices, const torch::Tensor& labels);

  /// Writes one snapshot at `step`, then flushes. First the activations of every tap, guide then
  /// target, batch by batch as `source` produces them (each flattened to [rows, features] and cast
  /// to layout().activation_dtype); then, for each layout metric, similarity matrices guide ×
  /// target [G, T], target × target [T, T] and guide × guide [G, G], computed from the activations
  /// as stored (read back from the file, float16 widened to float32), so that anyone can recompute
  /// them from the record.
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
  /// over the record, so a kill at any instant leaves the record as it was or as finished.
  /// @param state "completed", "interrupted" or "failed"
  /// @param end_time ISO 8601
  void finish(const std::string& state, const std::string& end_time,
              const FinalResults& results = {});

 private:
  RunRecord(std::string path, RecordLayout layout);

  void open(bool clear_status_flags);
  void start_swmr();
  void edit_copy(bool clear_status_flags, const std::function<void()>& edit);
  void require_space(uint64_t bytes, const std::string& what) const;
  template <typename Create>
  void change_structure(Create create);
  void require_open(const char* operation) const;
  void write_training_rows();
  void write_evaluation_rows();
  const std::vector<std::string>& taps_of(const std::string& side) const;
  void create_activation_datasets(const std::string& side, int64_t examples,
                                  const std::vector<torch::Tensor>& first_batch);
  void write_activations(int64_t slot, const std::string& side, const SnapshotSource& source);
  void write_activation_rows(int64_t slot, const std::string& side, const std::string& tap,
                             int64_t begin, const torch::Tensor& activation);
  void write_similarity(int64_t slot, const std::string& metric, const std::string& which,
                        const torch::Tensor& matrix);

  std::string path_;
  RecordLayout layout_;
  hdf5::Handle file_;
  bool finished_ = false;
  // Rows durable in the file, and the step of the last row appended (buffered or not).
  struct Table {
    int64_t rows = 0;
    std::optional<int64_t> last_step;
  };
  Table training_;
  Table evaluation_;
  Table snapshots_;
  std::vector<TrainingRow> pending_training_;
  std::vector<EvaluationRow> pending_evaluation_;
};

}  // namespace guidance
