// Example plugin: a one-hidden-layer perceptron as an architecture plugin.
//
// A plugin library holds one or more plugins. Each is a small factory class that describes itself
// (name, version, summary, parameter schema) and builds objects from validated parameters; the
// library ends with GUIDANCE_PLUGIN_LIBRARY, which exports the single entry point the host looks
// for and checks (ABI version, LibTorch version, C++ string ABI) before calling anything else.
#include <torch/torch.h>

#include "guidance/api/ParamTable.h"
#include "guidance/api/PluginApi.h"

namespace {

// The network. Submodules are registered under stable names: checkpoints and taps use them.
class PerceptronImpl : public guidance::Network {
 public:
  PerceptronImpl(int64_t inputs, int64_t hidden, int64_t outputs)
      : hidden_(register_module("hidden", torch::nn::Linear(inputs, hidden))),
        output_(register_module("output", torch::nn::Linear(hidden, outputs))) {}

  // Returns the logits and every tap, in the order taps() declares them. Guidance aligns taps,
  // so expose the activations a researcher would want to compare.
  guidance::NetworkOutput forward(const guidance::NetworkInput& input) override {
    torch::Tensor hidden = torch::relu(hidden_->forward(input.inputs.flatten(1)));
    torch::Tensor logits = output_->forward(hidden);
    return {logits, {hidden, logits}};
  }

  // Tap names must be known before the first forward: the host resolves the layer map with them.
  std::vector<guidance::TapSpec> taps() const override {
    return {{"hidden", guidance::TapLayout::Flat}, {"logits", guidance::TapLayout::Flat}};
  }

 private:
  torch::nn::Linear hidden_;
  torch::nn::Linear output_;
};

// The plugin's parameters, declared once: each binds a member of this struct, whose initialisers
// are the defaults. info() returns the table's specs() as the schema; build() reads the struct.
struct PerceptronOptions {
  int64_t hidden = 64;
};

const guidance::ParamTable<PerceptronOptions>& perceptron_params() {
  static const guidance::ParamTable<PerceptronOptions> table =
      guidance::ParamTable<PerceptronOptions>()
          .add("hidden", &PerceptronOptions::hidden, "units in the hidden layer")
          .between(1, 65536);
  return table;
}

// The factory. The host validates a config's [target]/[guide] table against params() (type,
// range, choices) before build() ever sees it, so build() can trust its parameters.
class PerceptronPlugin : public guidance::ArchitecturePlugin {
 public:
  guidance::PluginInfo info() const override {
    return {"example-perceptron", "1.0.0", "example: one hidden layer of ReLU units (image tasks)",
            perceptron_params().specs()};
  }

  std::shared_ptr<guidance::Network> build(const guidance::TaskSpec& task,
                                           const guidance::Params& params) const override {
    // A plugin refuses tasks it cannot serve with std::invalid_argument; the host adds where.
    if (task.input_kind != guidance::InputKind::Image) {
      throw std::invalid_argument("example-perceptron needs image inputs, but task '" + task.name +
                                  "' has token inputs");
    }
    const PerceptronOptions options = perceptron_params().read(params);
    int64_t inputs = 1;
    for (int64_t size : task.input_shape) inputs *= size;
    return std::make_shared<PerceptronImpl>(inputs, options.hidden, task.num_outputs);
  }
};

}  // namespace

// The library's entry point: register every plugin it holds.
GUIDANCE_PLUGIN_LIBRARY(registry) { registry.add(std::make_shared<PerceptronPlugin>()); }
