#pragma once

#include "guidance/api/Visibility.h"

#include <cstdint>
#include <optional>
#include <string>

#include <torch/types.h>

#include "guidance/api/Network.h"
#include "guidance/api/Task.h"

namespace guidance {

/// The three splits every dataset serves.
enum class Split { Train, Validation, Test };

inline const char* to_string(Split split) {
  switch (split) {
    case Split::Train: return "train";
    case Split::Validation: return "validation";
    case Split::Test: return "test";
  }
  return "unknown";
}

/// A batch of examples, on the CPU; the host moves it to the run's device.
struct Batch {
  torch::Tensor inputs;       ///< see NetworkInput::inputs
  torch::Tensor mask;         ///< Tokens only: bool [B, L], true on real positions
  torch::Tensor targets;      ///< Class: int64 [B]; TokenPerPosition: int64 [B, L]
  torch::Tensor target_mask;  ///< TokenPerPosition only: bool [B, L], true where a target is scored

  NetworkInput network_input() const { return NetworkInput{inputs, mask}; }
};

/// Where examples lie in the data a dataset read, so that a user can find recorded examples again
/// outside the workbench (the probe set of a record, say).
struct ExampleSource {
  std::string part;    ///< the file or part of the data that `rows` index, e.g. "train" or "test"
  torch::Tensor rows;  ///< int64 [B]: each example's 0-based row in that part
};

/// A dataset opened with validated parameters. Batches are a pure function of (split, indices)
/// and the seed the dataset was opened with, so runs are reproducible and resumable.
class GUIDANCE_API Dataset {
 public:
  virtual ~Dataset() = default;

  /// @return the task: input kind and shape, target kind, output size, measures.
  virtual const TaskSpec& task() const = 0;

  /// @return the number of examples in a split (0 for a split the data does not have).
  virtual int64_t size(Split split) const = 0;

  /// @param indices int64 [B], each in [0, size(split))
  /// @return the examples at those indices, in that order.
  virtual Batch batch(Split split, const torch::Tensor& indices) const = 0;

  /// @param indices as for batch()
  /// @return where the examples at `indices` of `split` lie in the data the dataset read (one
  /// part for all of a split); nothing for generated data, the default.
  virtual std::optional<ExampleSource> source(Split /*split*/,
                                              const torch::Tensor& /*indices*/) const {
    return std::nullopt;
  }
};

/// What the host tells a dataset when opening it.
struct DatasetContext {
  uint64_t seed = 0;         ///< for generated data and for deterministic split assignment
  std::string base_directory;  ///< relative paths in the config are resolved against this
};

}  // namespace guidance
