#include "host/recording/SnapshotWriter.h"

#include <torch/torch.h>

#include <algorithm>

#include "host/common/Errors.h"
#include "host/recording/RecordFormat.h"
#include "host/representation/Similarity.h"

namespace guidance {

namespace schema = record_schema;
using hdf5::check;
using hdf5::checked;
using hdf5::Handle;

namespace {

// Activation chunks stay within HDF5's default 1 MiB chunk cache.
constexpr hsize_t kActivationChunkBytes = 1 << 20;
// Snapshot steps per chunk of the step column.
constexpr hsize_t kStepChunk = 64;

Handle half_type() {
  Handle type = checked(H5Tcopy(H5T_IEEE_F32LE), H5Tclose, "float16 type");
  check(H5Tset_fields(type.get(), 15, 10, 5, 0, 10), "float16 type");
  check(H5Tset_size(type.get(), 2), "float16 type");
  check(H5Tset_ebias(type.get(), 15), "float16 type");
  return type;
}

const std::vector<std::string>& taps_of(const RecordLayout& layout, const std::string& side) {
  return side == schema::kGuide ? layout.guide_taps : layout.target_taps;
}

}  // namespace

void SnapshotWriter::create(hid_t file, const RecordLayout& layout, const std::string& path) {
  std::string snapshots = schema::kSnapshots;
  Handle group = hdf5::create_group(file, snapshots, path);
  hdf5::write_attribute(group.get(), schema::kActivationDtype,
                        std::string(to_string(layout.activation_dtype)));
  hdf5::create_extendible(file, snapshots + "/" + schema::kStep, H5T_STD_I64LE, {}, {kStepChunk},
                          false, path);
  for (const char* side : schema::kSides) {
    hdf5::create_group(file, snapshots + "/" + schema::kActivations + "/" + side, path);
  }
  for (const auto& metric : layout.metrics) {
    hdf5::create_group(file, snapshots + "/" + schema::kSimilarity + "/" + metric, path);
    for (const auto& [rows, columns] : schema::similarity_sides(!layout.guide_taps.empty())) {
      std::string dataset = schema::similarity_path(metric, schema::similarity_name(rows, columns));
      auto row_count = static_cast<hsize_t>(taps_of(layout, rows).size());
      auto column_count = static_cast<hsize_t>(taps_of(layout, columns).size());
      hdf5::create_extendible(file, dataset, H5T_IEEE_F64LE, {row_count, column_count},
                              {1, row_count, column_count}, false, path);
      Handle handle = hdf5::open_dataset(file, dataset, path);
      hdf5::write_attribute(handle.get(), schema::kRowsSide, std::string(rows));
      hdf5::write_attribute(handle.get(), schema::kColumnsSide, std::string(columns));
      hdf5::write_attribute(handle.get(), schema::kRowLabels, taps_of(layout, rows));
      hdf5::write_attribute(handle.get(), schema::kColumnLabels, taps_of(layout, columns));
    }
  }
}

void SnapshotWriter::create_activation_datasets(const std::string& side, int64_t examples,
                                                const std::vector<torch::Tensor>& first_batch) {
  bool half = layout_.activation_dtype == ActivationDtype::Float16;
  Handle half_file_type = half ? half_type() : Handle();
  hid_t type = half ? half_file_type.get() : H5T_IEEE_F32LE;
  hsize_t budget = kActivationChunkBytes / bytes_per_value(layout_.activation_dtype);
  const std::vector<std::string>& taps = taps_of(layout_, side);
  for (size_t i = 0; i < taps.size(); ++i) {
    std::string dataset = schema::activation_path(side, taps[i]);
    if (hdf5::exists(file_.get(), dataset)) continue;
    int64_t rows = first_batch[i].size(0);
    auto features = static_cast<hsize_t>(rows > 0 ? first_batch[i].numel() / rows : 0);
    hsize_t chunk_features = std::clamp<hsize_t>(features, 1, budget);
    hsize_t chunk_examples =
        std::clamp<hsize_t>(budget / chunk_features, 1, std::max<int64_t>(examples, 1));
    hdf5::create_extendible(file_.get(), dataset, type, {static_cast<hsize_t>(examples), features},
                            {1, chunk_examples, chunk_features}, true, file_.path());
    // Stored flattened to [n, F]; the shape per example lets readers restore [n, C, H, W].
    c10::IntArrayRef sizes = first_batch[i].sizes().slice(1);
    hdf5::write_integers_attribute(hdf5::open_dataset(file_.get(), dataset, file_.path()).get(),
                                   schema::kExampleShape,
                                   std::vector<int64_t>(sizes.begin(), sizes.end()));
  }
}

void SnapshotWriter::write_activations(int64_t slot, const std::string& side,
                                       const SnapshotSource& source) {
  const std::vector<std::string>& taps = taps_of(layout_, side);
  if (taps.empty()) return;
  int64_t batch_size = std::max<int64_t>(source.batch_size, 1);
  for (int64_t begin = 0; begin < source.examples; begin += batch_size) {
    int64_t end = std::min(begin + batch_size, source.examples);
    std::vector<torch::Tensor> batch = source.activations(side, begin, end);
    if (batch.size() != taps.size()) {
      throw RunError(file_.path() + ": snapshot gives " + std::to_string(batch.size()) + " " +
                     side + " activations, the layout has " + std::to_string(taps.size()) + " " +
                     side + " taps");
    }
    if (begin == 0) {
      // The side's activations uncompressed, plus one partly filled chunk per tap.
      uint64_t bytes = 0;
      for (const auto& activation : batch) {
        int64_t rows = std::max<int64_t>(activation.size(0), 1);
        uint64_t raw = static_cast<uint64_t>(source.examples * (activation.numel() / rows)) *
                       bytes_per_value(layout_.activation_dtype);
        bytes += raw + std::min<uint64_t>(raw, kActivationChunkBytes);
      }
      file_.require_space(bytes,
                          "the " + side + " activations of snapshot " + std::to_string(slot));
      bool missing = false;
      for (const auto& tap : taps) {
        missing = missing || !hdf5::exists(file_.get(), schema::activation_path(side, tap));
      }
      if (missing) {
        file_.change_structure([&] { create_activation_datasets(side, source.examples, batch); });
      }
    }
    for (size_t i = 0; i < taps.size(); ++i) {
      write_activation_rows(slot, side, taps[i], begin, batch[i]);
    }
  }
}

void SnapshotWriter::write_activation_rows(int64_t slot, const std::string& side,
                                           const std::string& tap, int64_t begin,
                                           const torch::Tensor& activation) {
  const std::string& path = file_.path();
  std::string dataset = schema::activation_path(side, tap);
  bool half = layout_.activation_dtype == ActivationDtype::Float16;
  torch::Tensor stored = activation.detach()
                             .reshape({activation.size(0), -1})
                             .to(torch::kCPU, half ? torch::kHalf : torch::kFloat)
                             .contiguous();
  Handle handle = hdf5::open_dataset(file_.get(), dataset, path);
  std::vector<hsize_t> shape = hdf5::shape_of(handle.get());
  auto rows = static_cast<hsize_t>(stored.size(0));
  if (static_cast<hsize_t>(begin) + rows > shape[1] ||
      shape[2] != static_cast<hsize_t>(stored.size(1))) {
    throw RunError(path + ": dataset '" + dataset + "' holds activations of [" +
                   std::to_string(shape[1]) + ", " + std::to_string(shape[2]) +
                   "] (examples, features), the snapshot gives " + c10::str(activation.sizes()) +
                   " for examples " + std::to_string(begin) + ".." +
                   std::to_string(begin + stored.size(0) - 1));
  }
  std::string context =
      path + ": cannot write snapshot " + std::to_string(slot) + " of '" + dataset + "'";
  if (shape[0] < static_cast<hsize_t>(slot + 1)) {
    shape[0] = static_cast<hsize_t>(slot + 1);
    check(H5Dset_extent(handle.get(), shape.data()), context);
  }
  Handle half_memory_type = half ? half_type() : Handle();
  hdf5::write_block(handle.get(), half ? half_memory_type.get() : H5T_NATIVE_FLOAT,
                    {static_cast<hsize_t>(slot), static_cast<hsize_t>(begin), 0},
                    {1, rows, shape[2]}, stored.data_ptr(), context);
}

void SnapshotWriter::write_similarities(int64_t slot, const SnapshotSource& source,
                                        const std::vector<std::shared_ptr<Metric>>& metrics) {
  // One cache for every metric of the snapshot: each tap is read back at most once within the
  // budget.
  TapCache stored(
      [&](const std::string& side, const std::string& tap) {
        return record_format::read_activation(file_.get(), file_.path(), side, tap,
                                              static_cast<size_t>(slot));
      },
      source.similarity_memory_bytes);
  for (size_t m = 0; m < metrics.size(); ++m) {
    for (const auto& [rows, columns] : schema::similarity_sides(!layout_.guide_taps.empty())) {
      const std::vector<std::string>& row_taps = taps_of(layout_, rows);
      const std::vector<std::string>& column_taps = taps_of(layout_, columns);
      torch::Tensor matrix =
          similarity_matrix(*metrics[m], row_taps.size(), stored.loader(rows, row_taps),
                            column_taps.size(), stored.loader(columns, column_taps));
      hdf5::write_rows(
          file_.get(),
          schema::similarity_path(layout_.metrics[m], schema::similarity_name(rows, columns)),
          H5T_NATIVE_DOUBLE, slot, 1, matrix.contiguous().data_ptr<double>(), file_.path());
    }
  }
}

void SnapshotWriter::write(int64_t step, const SnapshotSource& source,
                           const std::vector<std::shared_ptr<Metric>>& metrics) {
  const std::string& path = file_.path();
  if (metrics.size() != layout_.metrics.size()) {
    throw RunError(path + ": snapshot at step " + std::to_string(step) + " has " +
                   std::to_string(metrics.size()) + " metrics, the layout has " +
                   std::to_string(layout_.metrics.size()));
  }
  if (stored_.last_step && step < *stored_.last_step) {
    throw RunError(path + ": snapshot at step " + std::to_string(step) +
                   " comes after one at step " + std::to_string(*stored_.last_step));
  }
  // A second snapshot at the same step (e.g. "every N" meeting "at the end") replaces the first.
  int64_t slot = stored_.last_step && step == *stored_.last_step ? stored_.rows - 1 : stored_.rows;
  hdf5::QuietErrors quiet;
  write_activations(slot, schema::kGuide, source);
  write_activations(slot, schema::kTarget, source);
  write_similarities(slot, source, metrics);
  hdf5::write_rows(file_.get(), std::string(schema::kSnapshots) + "/" + schema::kStep,
                   H5T_NATIVE_INT64, slot, 1, &step, path);
  stored_.rows = slot + 1;
  stored_.last_step = step;
}

}  // namespace guidance
