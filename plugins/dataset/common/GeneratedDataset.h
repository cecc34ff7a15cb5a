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

/// @return the `train_size`, `validation_size` and `test_size` parameter specs of a generated
/// dataset, and its `min_length` and `max_length`.
inline std::vector<ParamSpec> generated_params(int64_t min_length, int64_t max_length) {
  return {
      ParamSpec::integer("min_length", min_length, "shortest sequence generated").between(1, 4096),
      ParamSpec::integer("max_length", max_length, "longest sequence generated").between(1, 4096),
      ParamSpec::integer("train_size", 10000, "examples in the train split").between(1, 10000000),
      ParamSpec::integer("validation_size", 1000, "examples in the validation split").between(0, 10000000),
      ParamSpec::integer("test_size", 1000, "examples in the test split").between(0, 10000000)};
}

/// The lengths and split sizes set by generated_params().
struct GeneratedShape {
  int64_t min_length = 0;
  int64_t max_length = 0;
  std::array<int64_t, 3> sizes{};  ///< train, validation, test
};

/// Reads the parameters of generated_params(); throws std::invalid_argument naming the dataset if
/// min_length exceeds max_length.
inline GeneratedShape generated_shape(const Params& params, const std::string& dataset) {
  GeneratedShape shape{params.integer("min_length"),
                       params.integer("max_length"),
                       {params.integer("train_size"), params.integer("validation_size"),
                        params.integer("test_size")}};
  if (shape.min_length > shape.max_length) {
    throw std::invalid_argument("dataset '" + dataset + "': min_length " +
                                std::to_string(shape.min_length) + " exceeds max_length " +
                                std::to_string(shape.max_length));
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
