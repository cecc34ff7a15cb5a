#pragma once

#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "guidance/api/Dataset.h"
#include "guidance/api/ParamTable.h"
#include "guidance/api/Task.h"
#include "plugins/dataset/common/DatasetSupport.h"
#include "plugins/dataset/common/ExampleRng.h"

namespace guidance::datasets {

/// A range of sequence lengths, both ends included.
struct LengthRange {
  int64_t min_length = 0;
  int64_t max_length = 0;
};

/// The parameters every generated dataset shares (generated_params() declares each). The split
/// sizes differ by dataset: a dataset's options give them, e.g.
/// `GeneratedOptions generated = generated_defaults(80000, 10000, 10000);`.
struct GeneratedOptions {
  int64_t min_length = 0;  ///< 0: the format's default
  int64_t max_length = 0;  ///< 0: the format's default
  int64_t train_size = 1;
  int64_t validation_size = 0;
  int64_t test_size = 0;
};

/// @return GeneratedOptions with the given split sizes and the formats' default lengths.
inline GeneratedOptions generated_defaults(int64_t train_size, int64_t validation_size,
                                           int64_t test_size) {
  GeneratedOptions options;
  options.train_size = train_size;
  options.validation_size = validation_size;
  options.test_size = test_size;
  return options;
}

/// @return the `min_length`, `max_length` (0 = the format's default) and `train_size`,
/// `validation_size`, `test_size` parameters of a generated dataset, bound to GeneratedOptions;
/// a dataset adds them with ParamTable::add_all, its options holding the defaults.
inline const ParamTable<GeneratedOptions>& generated_params() {
  using Options = GeneratedOptions;
  static const ParamTable<Options> table =
      ParamTable<Options>()
          .add("min_length", &Options::min_length,
               "shortest sequence generated; 0 = the format's default")
          .between(0, 4096)
          .add("max_length", &Options::max_length,
               "longest sequence generated; 0 = the format's default")
          .between(0, 4096)
          .add("train_size", &Options::train_size, "examples in the train split")
          .between(1, 10000000)
          .add("validation_size", &Options::validation_size, "examples in the validation split")
          .between(0, 10000000)
          .add("test_size", &Options::test_size, "examples in the test split")
          .between(0, 10000000);
  return table;
}

/// The lengths and split sizes GeneratedOptions give.
struct GeneratedShape {
  LengthRange lengths;
  std::array<int64_t, 3> sizes{};  ///< train, validation, test
};

/// @return the shape `options` give; a length left at 0 takes its value from `defaults`. Throws
/// std::invalid_argument naming the dataset if min_length exceeds max_length.
inline GeneratedShape generated_shape(const GeneratedOptions& options, const std::string& dataset,
                                      LengthRange defaults) {
  auto or_default = [](int64_t value, int64_t fallback) { return value == 0 ? fallback : value; };
  GeneratedShape shape{{or_default(options.min_length, defaults.min_length),
                        or_default(options.max_length, defaults.max_length)},
                       {options.train_size, options.validation_size, options.test_size}};
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
