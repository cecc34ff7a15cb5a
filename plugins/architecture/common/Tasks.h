#pragma once

#include <stdexcept>
#include <string>

#include <torch/torch.h>

#include "guidance/api/PluginApi.h"

/// Pieces shared by the architecture plugins. Header-only: each plugin library compiles its own
/// copy, so plugins stay independent of one another.
namespace guidance::architecture {

/// @return "image" or "token", as error messages name an input kind.
inline const char* input_kind_name(InputKind kind) {
  return kind == InputKind::Image ? "image" : "token";
}

/// Checks that `task` is one the plugin `plugin` can build a network for: inputs of `kind` and a
/// shape, vocabulary and output size that make sense for them.
/// @throws std::invalid_argument naming the plugin and the task, e.g. "mlp needs image inputs, but
/// task 'parity' has token inputs".
inline void require_inputs(const std::string& plugin, const TaskSpec& task, InputKind kind) {
  const std::string prefix = plugin + " needs " + input_kind_name(kind) + " inputs";
  if (task.input_kind != kind) {
    throw std::invalid_argument(prefix + ", but task '" + task.name + "' has " +
                                input_kind_name(task.input_kind) + " inputs");
  }
  const std::size_t dims = kind == InputKind::Image ? 3 : 1;
  bool positive = task.input_shape.size() == dims;
  for (int64_t size : task.input_shape) positive = positive && size > 0;
  if (!positive) {
    throw std::invalid_argument(
        prefix + " of shape " +
        (kind == InputKind::Image ? "{channels, height, width}" : "{max_length}") +
        " with positive sizes, but task '" + task.name + "' declares input_shape " +
        c10::str(c10::IntArrayRef(task.input_shape)));
  }
  if (kind == InputKind::Tokens && task.vocab_size <= 0) {
    throw std::invalid_argument(plugin + " needs a positive vocab_size, but task '" + task.name +
                                "' declares " + std::to_string(task.vocab_size));
  }
  if (task.num_outputs <= 0) {
    throw std::invalid_argument(plugin + " needs a positive num_outputs, but task '" + task.name +
                                "' declares " + std::to_string(task.num_outputs));
  }
}

/// Checks an image batch against the task the network was built for.
/// @param input inputs float [B, C, H, W] with {C, H, W} = task.input_shape
inline void check_image_input(const TaskSpec& task, const NetworkInput& input) {
  const torch::Tensor& x = input.inputs;
  TORCH_CHECK(x.defined() && x.dim() == 4 && x.is_floating_point(),
              "expected float image inputs [B, C, H, W], got ",
              x.defined() ? x.sizes() : c10::IntArrayRef{});
  TORCH_CHECK(x.sizes().slice(1) == c10::IntArrayRef(task.input_shape),
              "expected images of shape ", c10::IntArrayRef(task.input_shape), " for task '",
              task.name, "', got ", x.sizes().slice(1));
}

/// Checks a token batch: int64 ids [B, L] with L at most the task's max_length, and a bool
/// mask [B, L] that is true on real positions.
inline void check_token_input(const TaskSpec& task, const NetworkInput& input) {
  const torch::Tensor& tokens = input.inputs;
  TORCH_CHECK(tokens.defined() && tokens.dim() == 2 && tokens.scalar_type() == torch::kLong,
              "expected int64 token inputs [B, L]");
  TORCH_CHECK(tokens.size(1) <= task.input_shape[0], "sequence length ", tokens.size(1),
              " exceeds the max_length ", task.input_shape[0], " of task '", task.name, "'");
  TORCH_CHECK(input.mask.defined() && input.mask.scalar_type() == torch::kBool &&
                  input.mask.sizes() == tokens.sizes(),
              "expected a bool mask of the token inputs' shape ", tokens.sizes());
}

/// Registers a plain module under `name` to group submodules, so parameters read
/// "name.child.weight".
inline std::shared_ptr<torch::nn::Module> register_group(torch::nn::Module& owner,
                                                         const std::string& name) {
  return owner.register_module(name, std::make_shared<torch::nn::Module>());
}

}  // namespace guidance::architecture
