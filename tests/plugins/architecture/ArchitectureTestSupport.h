#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "guidance/api/PluginApi.h"
#include "tests/support/TestSupport.h"

namespace guidance::testing {

inline constexpr int64_t kBatch = 4;
inline constexpr int64_t kLength = 6;
inline constexpr int64_t kVocab = 7;

/// A small CIFAR-like image task: 3x8x8 images, 5 classes.
inline TaskSpec image_task(int64_t side = 8) {
  TaskSpec task;
  task.name = "tiny-images";
  task.input_kind = InputKind::Image;
  task.input_shape = {3, side, side};
  task.target_kind = TargetKind::Class;
  task.num_outputs = 5;
  return task;
}

/// A small token task: sequences of up to kLength ids from kVocab, either one class per sequence
/// (named "parity", 2 classes) or one token per position (named "copy-paste").
inline TaskSpec token_task(TargetKind target_kind) {
  TaskSpec task;
  task.name = target_kind == TargetKind::Class ? "parity" : "copy-paste";
  task.input_kind = InputKind::Tokens;
  task.input_shape = {kLength};
  task.vocab_size = kVocab;
  task.target_kind = target_kind;
  task.num_outputs = target_kind == TargetKind::Class ? 2 : kVocab;
  return task;
}

/// Builds a network with the plugin's defaults, overridden by `overrides`.
inline std::shared_ptr<Network> build(const std::string& plugin, const TaskSpec& task,
                                      const std::map<std::string, ParamValue>& overrides = {}) {
  auto architecture = built_plugins().architecture(plugin);
  Params params = defaults_of(architecture->info().params);
  for (const auto& [name, value] : overrides) params.set(name, value);
  return architecture->build(task, params);
}

/// Random inputs for `task`: images from randn; tokens with valid lengths {L, L/2, 1, L-1}.
inline NetworkInput random_input(const TaskSpec& task) {
  if (task.input_kind == InputKind::Image) {
    std::vector<int64_t> shape{kBatch};
    shape.insert(shape.end(), task.input_shape.begin(), task.input_shape.end());
    return {torch::randn(shape), {}};
  }
  const int64_t length = task.input_shape[0];
  auto lengths = torch::tensor({length, length / 2, int64_t{1}, length - 1}).unsqueeze(1);
  auto mask = torch::arange(length).unsqueeze(0).lt(lengths);
  return {torch::randint(0, task.vocab_size, {kBatch, length}, torch::kLong), mask};
}

/// @return the input with every token at a padded position replaced by another id.
inline NetworkInput with_padding_changed(const NetworkInput& input, int64_t vocab) {
  auto changed = torch::where(input.mask, input.inputs, (input.inputs + 1).remainder(vocab));
  return {changed, input.mask};
}

}  // namespace guidance::testing
