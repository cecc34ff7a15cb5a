#pragma once

#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "guidance/api/Metric.h"
#include "host/recording/RecordFile.h"
#include "host/recording/RecordSchema.h"
#include "host/recording/TableWriter.h"

namespace guidance {

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

/// The `snapshots` group of a record being written: activations of every tap on the probe set,
/// and the similarity matrices computed from them as stored.
class SnapshotWriter {
 public:
  /// Writes into `file`, laid out as `layout`; both must outlive the writer.
  SnapshotWriter(RecordFile& file, const RecordLayout& layout) : file_(file), layout_(layout) {}

  /// Creates the group: its dtype attribute, the step column, the activation groups and the
  /// similarity datasets (activation datasets follow with the first snapshot, once tap sizes are
  /// known).
  static void create(hid_t file, const RecordLayout& layout, const std::string& path);

  StoredRows& stored() { return stored_; }

  /// Writes one snapshot at `step`: first the activations of every tap, guide then target, batch
  /// by batch as `source` produces them (each flattened to [rows, features] and cast to the
  /// layout's dtype; the first snapshot creates each tap's dataset with its `example_shape`);
  /// then, for each layout metric, the similarity matrices computed from the activations as
  /// stored (read back from the file, float16 widened to float32). A second snapshot at the same
  /// step replaces the first. Does not flush.
  /// @param metrics parallel to layout.metrics
  void write(int64_t step, const SnapshotSource& source,
             const std::vector<std::shared_ptr<Metric>>& metrics);

 private:
  void create_activation_datasets(const std::string& side, int64_t examples,
                                  const std::vector<torch::Tensor>& first_batch);
  void write_activations(int64_t slot, const std::string& side, const SnapshotSource& source);
  void write_activation_rows(int64_t slot, const std::string& side, const std::string& tap,
                             int64_t begin, const torch::Tensor& activation);
  void write_similarities(int64_t slot, const SnapshotSource& source,
                          const std::vector<std::shared_ptr<Metric>>& metrics);

  RecordFile& file_;
  const RecordLayout& layout_;
  StoredRows stored_;
};

}  // namespace guidance
