#include <memory>
#include <string>
#include <vector>

#include "guidance/api/ParamTable.h"
#include "guidance/api/PluginApi.h"
#include "plugins/architecture/common/Activation.h"
#include "plugins/architecture/common/Linear.h"
#include "plugins/architecture/common/Tasks.h"

namespace guidance::architecture {
namespace {

constexpr const char* kName = "mlp";

// The plugin's parameters (mlp_params() declares each), with their defaults.
struct MlpSizes {
  int64_t depth = 3;
  int64_t width = 128;
  int64_t first_width = 0;
  bool batch_norm = false;
  double dropout = 0.0;
  Activation activation = Activation::ReLU;
};

const ParamTable<MlpSizes>& mlp_params() {
  static const ParamTable<MlpSizes> table =
      ParamTable<MlpSizes>()
          .add("depth", &MlpSizes::depth,
               "hidden layers (the released Deep FCN: 48; Wide FCN: 3)")
          .between(1, 1000)
          .add("width", &MlpSizes::width,
               "units per hidden layer (the released Deep FCN: 1024; Wide FCN: 8192)")
          .between(1, 65536)
          .add("first_width", &MlpSizes::first_width,
               "units of the first hidden layer; 0: width (the released Deep FCN: 2048)")
          .between(0, 65536)
          .add("batch_norm", &MlpSizes::batch_norm,
               "batch normalisation between each linear layer and its activation")
          .add("dropout", &MlpSizes::dropout, "dropout after each hidden layer")
          .between(0.0, 1.0)
          .add_choice("activation", &MlpSizes::activation, kActivationDoc, activation_choices());
  return table;
}

// One hidden layer: linear, optional batch norm, activation; dropout is applied after the taps so
// the tapped representation is the layer's own, not a randomly thinned copy.
class HiddenLayerImpl : public torch::nn::Module {
 public:
  HiddenLayerImpl(int64_t input, int64_t output, const MlpSizes& sizes)
      : activation_(sizes.activation),
        linear_(register_module("linear", torch::nn::Linear(input, output))) {
    if (sizes.batch_norm) norm_ = register_module("norm", torch::nn::BatchNorm1d(output));
  }

  // Appends the layer's taps, the linear output and then the activation, as the network
  // declares them.
  torch::Tensor forward(const torch::Tensor& x, std::vector<torch::Tensor>& taps) {
    auto y = linear(*linear_, x);
    taps.push_back(y);
    if (norm_) y = norm_(y);
    taps.push_back(activate(activation_, y));
    return taps.back();
  }

 private:
  Activation activation_;
  torch::nn::Linear linear_;
  torch::nn::BatchNorm1d norm_{nullptr};
};
TORCH_MODULE(HiddenLayer);

class MlpNetwork : public Network {
 public:
  MlpNetwork(const TaskSpec& task, const MlpSizes& sizes)
      : task_(task), dropout_(register_module("dropout", torch::nn::Dropout(sizes.dropout))) {
    int64_t input = 1;
    for (int64_t size : task.input_shape) input *= size;
    for (int64_t i = 1; i <= sizes.depth; ++i) {
      const std::string name = "layer" + std::to_string(i);
      const int64_t output = i == 1 && sizes.first_width > 0 ? sizes.first_width : sizes.width;
      layers_.push_back(register_module(name, HiddenLayer(input, output, sizes)));
      taps_.push_back(module_tap(name + ".linear"));
      taps_.push_back(block_tap(name));
      input = output;
    }
    head_ = register_module("head", torch::nn::Linear(input, task.num_outputs));
  }

  NetworkOutput forward(const NetworkInput& input) override {
    check_image_input(task_, input);
    NetworkOutput out;
    auto x = input.inputs.flatten(1);
    for (auto& layer : layers_) x = dropout_(layer(x, out.taps));
    out.logits = linear(*head_, x);
    return out;
  }

  std::vector<TapSpec> taps() const override { return taps_; }
  // Frozen forward passes are batch-invariant (common/Linear.h; BatchInvariance.* tests it).
  bool batch_invariant() const override { return true; }

 private:
  TaskSpec task_;
  torch::nn::Dropout dropout_;
  std::vector<HiddenLayer> layers_;
  torch::nn::Linear head_{nullptr};
  std::vector<TapSpec> taps_;
};

class MlpPlugin : public ArchitecturePlugin {
 public:
  PluginInfo info() const override {
    return {kName, "1.0.0",
            "fully connected network on the flattened image (the paper's Deep and Wide FCN); "
            "taps every hidden layer's linear output (module set) and activation (block set)",
            mlp_params().specs()};
  }

  std::shared_ptr<Network> build(const TaskSpec& task, const Params& params) const override {
    require_inputs(kName, task, InputKind::Image);
    const MlpSizes sizes = mlp_params().read(params);
    return std::make_shared<MlpNetwork>(task, sizes);
  }
};

}  // namespace
}  // namespace guidance::architecture

GUIDANCE_PLUGIN_LIBRARY(registry) {
  registry.add(std::make_shared<guidance::architecture::MlpPlugin>());
}
