// `torchscript`: a network written in PyTorch, loaded from a file made with torch.jit.script or
// torch.jit.trace, usable as a target (trained from C++) and as a guide. The convention
// (docs/architectures.md, "torchscript"):
//   - forward(x) for images, forward(tokens, mask) for token tasks, returning
//     (logits, Dict[str, Tensor]): the logits and one activation per tap;
//   - an attribute `guidance_taps: List[str]` naming the taps in network order (the dict must hold
//     exactly these); optionally `guidance_flat_taps: List[str]`, the taps of a token network that
//     are one vector per example rather than [B, L, D] sequences;
//   - optionally `guidance_inputs: str`, "image" or "tokens", the tasks it is for.
// A file that breaks the convention is refused with what was expected.
#include <cmath>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <torch/script.h>

#include "guidance/api/InputFile.h"
#include "guidance/api/ParamTable.h"
#include "guidance/api/PluginApi.h"
#include "plugins/architecture/common/Tasks.h"

namespace guidance::architecture {
namespace {

constexpr const char* kName = "torchscript";

std::vector<std::string> string_list(const torch::jit::Module& module, const std::string& name,
                                     const std::string& path) {
  std::vector<std::string> values;
  if (!module.hasattr(name)) return values;
  torch::IValue value = module.attr(name);
  if (!value.isList()) {
    throw std::invalid_argument(std::string(kName) + ": " + path + ": attribute '" + name +
                                "' must be a List[str]");
  }
  for (const torch::IValue& element : value.toListRef()) {
    if (!element.isString()) {
      throw std::invalid_argument(std::string(kName) + ": " + path + ": attribute '" + name +
                                  "' must be a List[str]");
    }
    values.push_back(element.toStringRef());
  }
  return values;
}

/// @return the last line of an error: the TorchScript interpreter puts its cause there, after
/// two tracebacks.
std::string cause_of(const std::string& message) {
  size_t end = message.find_last_not_of("\n ");
  if (end == std::string::npos) return message;
  const size_t newline = message.rfind('\n', end);
  const size_t begin = newline == std::string::npos ? 0 : newline + 1;
  return message.substr(begin, end + 1 - begin);
}

class TorchscriptNetwork : public Network {
 public:
  TorchscriptNetwork(torch::jit::Module module, const TaskSpec& task, std::string path,
                     bool seeded)
      : module_(std::move(module)), task_(task), path_(std::move(path)) {
    const std::vector<std::string> names = string_list(module_, "guidance_taps", path_);
    if (names.empty()) {
      throw std::invalid_argument(std::string(kName) + ": " + path_ +
                                  " has no attribute 'guidance_taps: List[str]' naming its taps "
                                  "in network order (see docs/architectures.md, 'torchscript')");
    }
    const std::vector<std::string> flat = string_list(module_, "guidance_flat_taps", path_);
    const std::set<std::string> flat_set(flat.begin(), flat.end());
    for (const auto& name : names) {
      const bool sequence = task.input_kind == InputKind::Tokens && flat_set.count(name) == 0;
      taps_.push_back({name, sequence ? TapLayout::Sequence : TapLayout::Flat});
    }
    if (seeded) reinitialise_from_seed();
    share_parameters();
    // Refuse a module that breaks the convention, or does not fit the task (input shape,
    // vocabulary, outputs), now rather than in the middle of a run.
    torch::NoGradGuard probe_only;
    const bool was_training = is_training();
    train(false);
    try {
      forward(probe_input());
    } catch (const c10::Error& error) {
      throw std::invalid_argument(std::string(kName) + ": " + path_ + " does not fit task '" +
                                  task.name + "': " + cause_of(error.what_without_backtrace()));
    } catch (const std::runtime_error& error) {  // also the interpreter's JITException
      throw std::invalid_argument(std::string(kName) + ": " + path_ + " does not fit task '" +
                                  task.name + "': " + cause_of(error.what()));
    }
    train(was_training);
  }

  NetworkOutput forward(const NetworkInput& input) override {
    if (task_.input_kind == InputKind::Image) {
      check_image_input(task_, input);
    } else {
      check_token_input(task_, input);
    }
    std::vector<torch::IValue> arguments{input.inputs};
    if (task_.input_kind == InputKind::Tokens) arguments.emplace_back(input.mask);
    torch::IValue result = module_.forward(arguments);
    const std::string expected = "forward must return (logits, Dict[str, Tensor])";
    if (!result.isTuple() || result.toTupleRef().elements().size() != 2) {
      throw std::runtime_error(std::string(kName) + ": " + path_ + ": " + expected + ", got " +
                               result.tagKind());
    }
    const auto& elements = result.toTupleRef().elements();
    if (!elements[0].isTensor() || !elements[1].isGenericDict()) {
      throw std::runtime_error(std::string(kName) + ": " + path_ + ": " + expected + ", got (" +
                               elements[0].tagKind() + ", " + elements[1].tagKind() + ")");
    }
    NetworkOutput out;
    out.logits = elements[0].toTensor();
    const c10::Dict<torch::IValue, torch::IValue> taps = elements[1].toGenericDict();
    if (taps.size() != taps_.size()) {
      throw std::runtime_error(std::string(kName) + ": " + path_ + ": forward returned " +
                               std::to_string(taps.size()) + " taps, guidance_taps names " +
                               std::to_string(taps_.size()));
    }
    for (const TapSpec& tap : taps_) {
      auto found = taps.find(tap.name);
      if (found == taps.end() || !found->value().isTensor()) {
        throw std::runtime_error(std::string(kName) + ": " + path_ + ": forward's dict has no "
                                 "tensor '" + tap.name + "', which guidance_taps names");
      }
      out.taps.push_back(found->value().toTensor());
    }
    const std::vector<int64_t> logits_shape =
        task_.target_kind == TargetKind::TokenPerPosition
            ? std::vector<int64_t>{input.inputs.size(0), input.inputs.size(1), task_.num_outputs}
            : std::vector<int64_t>{input.inputs.size(0), task_.num_outputs};
    if (out.logits.sizes() != c10::IntArrayRef(logits_shape)) {
      throw std::runtime_error(std::string(kName) + ": " + path_ + ": logits of shape " +
                               c10::str(out.logits.sizes()) + ", but task '" + task_.name +
                               "' needs " + c10::str(c10::IntArrayRef(logits_shape)));
    }
    return out;
  }

  std::vector<TapSpec> taps() const override { return taps_; }

  void train(bool on) override {
    Network::train(on);
    module_.train(on);
  }

 private:
  /// Registers the module's parameters and buffers under their PyTorch names (child modules
  /// mirror its hierarchy, so `conv1.weight` is `conv1.weight` here too): the same tensors, so
  /// optimisers, checkpoints and devices act on what the scripted code computes with.
  void share_parameters() {
    auto owner_of = [this](const std::string& name) {
      torch::nn::Module* owner = this;
      size_t begin = 0;
      for (size_t dot; (dot = name.find('.', begin)) != std::string::npos; begin = dot + 1) {
        const std::string child = name.substr(begin, dot - begin);
        auto children = owner->named_children();
        owner = children.contains(child)
                    ? children[child].get()
                    : owner->register_module(child, std::make_shared<torch::nn::Module>()).get();
      }
      return std::make_pair(owner, name.substr(begin));
    };
    for (const auto& parameter : module_.named_parameters(true)) {
      auto [owner, leaf] = owner_of(parameter.name);
      owner->register_parameter(leaf, parameter.value, parameter.value.requires_grad());
    }
    for (const auto& buffer : module_.named_buffers(true)) {
      auto [owner, leaf] = owner_of(buffer.name);
      owner->register_buffer(leaf, buffer.value);
    }
  }

  /// PyTorch's default for linear and convolution weights, from the current torch seed: uniform
  /// in ±1/√fan_in for tensors of two or more dimensions, the bias beside such a weight likewise;
  /// other one-dimensional tensors (normalisation scales and shifts) keep the file's values.
  void reinitialise_from_seed() {
    torch::NoGradGuard in_place;
    auto bound_of = [](const torch::Tensor& weight) {
      return 1.0 / std::sqrt(static_cast<double>(weight[0].numel()));
    };
    // "<module>.<leaf>" split at the last dot; a top-level tensor has no module.
    auto split = [](const std::string& name) -> std::optional<std::pair<std::string, std::string>> {
      const size_t dot = name.rfind('.');
      if (dot == std::string::npos) return std::nullopt;
      return std::make_pair(name.substr(0, dot), name.substr(dot + 1));
    };
    const auto parameters = module_.named_parameters(true);
    std::map<std::string, double> weight_bounds;  // by module, from its weight of ≥ 2 dimensions
    for (const auto& parameter : parameters) {
      auto parts = split(parameter.name);
      if (parts && parts->second == "weight" && parameter.value.dim() >= 2) {
        weight_bounds[parts->first] = bound_of(parameter.value);
      }
    }
    for (const auto& parameter : parameters) {
      torch::Tensor tensor = parameter.value;
      if (tensor.dim() >= 2) {
        tensor.uniform_(-bound_of(tensor), bound_of(tensor));
        continue;
      }
      auto parts = split(parameter.name);
      if (!parts || parts->second != "bias") continue;
      auto bound = weight_bounds.find(parts->first);
      if (bound != weight_bounds.end()) tensor.uniform_(-bound->second, bound->second);
    }
  }

  NetworkInput probe_input() const {
    if (task_.input_kind == InputKind::Image) {
      std::vector<int64_t> shape{2};
      shape.insert(shape.end(), task_.input_shape.begin(), task_.input_shape.end());
      return {torch::zeros(shape), {}};
    }
    // The largest id the task uses: a network made for a smaller vocabulary fails here.
    const int64_t length = task_.input_shape[0];
    return {torch::full({2, length}, task_.vocab_size - 1, torch::kLong),
            torch::ones({2, length}, torch::kBool)};
  }

  torch::jit::Module module_;
  TaskSpec task_;
  std::string path_;
  std::vector<TapSpec> taps_;
};

// The plugin's parameters (torchscript_params() declares each), with their defaults.
struct TorchscriptOptions {
  std::string path;
  bool seeded_weights = true;
};

const ParamTable<TorchscriptOptions>& torchscript_params() {
  static const ParamTable<TorchscriptOptions> table =
      ParamTable<TorchscriptOptions>()
          .add("path", &TorchscriptOptions::path, "the TorchScript file (torch.jit.save)")
          .mandatory()
          .add_choice("weights", &TorchscriptOptions::seeded_weights,
                      "seeded: weights drawn from the run's seed (PyTorch's default for linear "
                      "and conv layers); file: the weights saved in it",
                      {{"seeded", true}, {"file", false}});
  return table;
}

class TorchscriptPlugin : public ArchitecturePlugin {
 public:
  PluginInfo info() const override {
    return {kName, "1.0.0",
            "a network written in PyTorch, loaded from a torch.jit.script/trace file that "
            "returns (logits, {tap: tensor}) and lists its taps in guidance_taps",
            torchscript_params().specs()};
  }

  std::shared_ptr<Network> build(const TaskSpec& task, const Params& params) const override {
    const TorchscriptOptions options = torchscript_params().read(params);
    const std::string& path = options.path;
    // Read through InputFile: a FIFO or a device file is refused at the key, not waited on.
    std::istringstream content(open_param_file("path", path).read_all());
    torch::jit::Module module;
    try {
      module = torch::jit::load(content);
    } catch (const c10::Error& error) {
      // A ParamError: the host names the config's `path` key, where the user fixes it.
      throw ParamError("path", "cannot load TorchScript file '" + path +
                                   "': " + error.what_without_backtrace());
    }
    if (module.hasattr("guidance_inputs")) {
      const std::string inputs = module.attr("guidance_inputs").toStringRef();
      if (inputs != "image" && inputs != "tokens") {
        throw ParamError("path", path + ": guidance_inputs must be \"image\" or \"tokens\", got \"" +
                                     inputs + "\"");
      }
      require_inputs(kName, task, inputs == "image" ? InputKind::Image : InputKind::Tokens);
    }
    return std::make_shared<TorchscriptNetwork>(std::move(module), task, path,
                                                options.seeded_weights);
  }
};

}  // namespace
}  // namespace guidance::architecture

GUIDANCE_PLUGIN_LIBRARY(registry) {
  registry.add(std::make_shared<guidance::architecture::TorchscriptPlugin>());
}
