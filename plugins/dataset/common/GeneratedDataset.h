#pragma once

#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "guidance/api/Dataset.h"
#include "guidance/api/Params.h"
#include "guidance/api/Task.h"
#include "plugins/dataset/common/DatasetSupport.h"
#include "plugins/dataset/common/ExampleRng.h"

namespace guidance::datasets {

/// A range of sequence lengths, both ends included.
struct LengthRange {
  int64_t min_length = 0;
  int64_t max_length = 0;
};

/// @return the `min_length`, `max_length` (0 = the format's default) and `train_size`,
/// `validation_size`, `test_size` parameter specs of a generated dataset.
/// @param sizes the default split sizes: train, validation, test
inline std::vector<ParamSpec> generated_params(std::array<int64_t, 3> sizes) {
  return {
      ParamSpec::integer("min_length", 0, "shortest sequence generated; 0 = the format's default")
          .between(0, 4096),
      ParamSpec::integer("max_length", 0, "longest sequence generated; 0 = the format's default")
          .between(0, 4096),
      ParamSpec::integer("train_size", sizes[0], "examples in the train split").between(1, 10000000),
      ParamSpec::integer("validation_size", sizes[1], "examples in the validation split")
          .between(0, 10000000),
      ParamSpec::integer("test_size", sizes[2], "examples in the test split").between(0, 10000000)};
}

/// The lengths and split sizes set by generated_params().
struct GeneratedShape {
  LengthRange lengths;
  std::array<int64_t, 3> sizes{};  ///< train, validation, test
};

/// Reads the parameters of generated_params(); a length left at 0 takes its value from
/// `defaults`. Throws std::invalid_argument naming the dataset if min_length exceeds max_length.
inline GeneratedShape generated_shape(const Params& params, const std::string& dataset,
                                      LengthRange defaults) {
  auto or_default = [&](const char* key, int64_t fallback) {
    const int64_t value = params.integer(key);
    return value == 0 ? fallback : value;
  };
  GeneratedShape shape{{or_default("min_length", defaults.min_length),
                        or_default("max_length", defaults.max_length)},
                       {params.integer("train_size"), params.integer("validation_size"),
                        params.integer("test_size")}};
  if (shape.lengths.min_length > shape.lengths.max_length) {
    throw std::invalid_argument("dataset '" + dataset + "': min_length " +
                                std::to_string(shape.lengths.min_length) + " exceeds max_length " +
                                std::to_string(shape.lengths.max_length));
  }
  return shape;
}

/// A dataset whose examples are generated on demand: example i of split s is drawn from
/// ExampleRng(seed, streams::of(s), i), so batches are random-access and deterministic.
class GeneratedDataset : public Dataset {
 public:
  GeneratedDataset(TaskSpec task, std::array<int64_t, 3> sizes, uint64_t seed)
      : task_(std::move(task)), sizes_(sizes), seed_(seed) {}

  const TaskSpec& task() const override { return task_; }

  int64_t size(Split split) const override { return sizes_[static_cast<size_t>(split)]; }

  Batch batch(Split split, const torch::Tensor& indices) const final {
    std::vector<ExampleRng> sources;
    for (int64_t index : checked_indices(indices, size(split), split, task_.name)) {
      sources.emplace_back(seed_, streams::of(split), static_cast<uint64_t>(index));
    }
    return generate(sources);
  }

 protected:
  /// @return the batch whose example b is drawn from sources[b].
  virtual Batch generate(std::vector<ExampleRng>& sources) const = 0;

 private:
  TaskSpec task_;
  std::array<int64_t, 3> sizes_;
  uint64_t seed_;
};

}  // namespace guidance::datasets
