#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "guidance/api/ParamTable.h"
#include "guidance/api/PluginApi.h"
#include "plugins/architecture/common/Activation.h"
#include "plugins/architecture/common/PooledHead.h"
#include "plugins/architecture/common/Tasks.h"

namespace guidance::architecture {
namespace {

constexpr const char* kName = "convnet";

enum class Pooling { Max, Average, None };

// The plugin's parameters (convnet_params() declares each), with their defaults.
struct ConvnetSizes {
  std::vector<int64_t> channels{16, 32, 64};
  int64_t kernel_size = 3;
  bool batch_norm = true;
  Activation activation = Activation::ReLU;
  Pooling pool = Pooling::Max;
  int64_t pool_every = 1;

  bool pools_after(std::size_t block) const {
    return pool != Pooling::None && (block + 1) % pool_every == 0;
  }
};

const ParamTable<ConvnetSizes>& convnet_params() {
  static const ParamTable<ConvnetSizes> table =
      ParamTable<ConvnetSizes>()
          .add("channels", &ConvnetSizes::channels,
               "output channels of each conv block, one block per entry")
          .between(1, 4096)
          .add("kernel_size", &ConvnetSizes::kernel_size,
               "odd convolution kernel size (same padding)")
          .between(1, 31)
          .add("batch_norm", &ConvnetSizes::batch_norm,
               "batch normalisation between each convolution and its activation")
          .add_choice("activation", &ConvnetSizes::activation, kActivationDoc,
                      activation_choices())
          .add_choice("pool", &ConvnetSizes::pool, "2x2 pooling after every pool_every-th block",
                      {{"max", Pooling::Max}, {"avg", Pooling::Average}, {"none", Pooling::None}})
          .add("pool_every", &ConvnetSizes::pool_every, "blocks between two 2x2 poolings")
          .between(1, 64);
  return table;
}

// Convolution (same padding), optional batch norm, activation.
class ConvBlockImpl : public torch::nn::Module {
 public:
  ConvBlockImpl(int64_t input, int64_t output, const ConvnetSizes& sizes)
      : activation_(sizes.activation),
        conv_(register_module(
            "conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(input, output, sizes.kernel_size)
                                          .padding(sizes.kernel_size / 2)
                                          .bias(!sizes.batch_norm)))) {
    if (sizes.batch_norm) norm_ = register_module("norm", torch::nn::BatchNorm2d(output));
  }

  // Appends the block's taps, the convolution's output and then the activation, as the network
  // declares them.
  torch::Tensor forward(const torch::Tensor& x, std::vector<torch::Tensor>& taps) {
    auto y = conv_(x);
    taps.push_back(y);
    if (norm_) y = norm_(y);
    taps.push_back(activate(activation_, y));
    return taps.back();
  }

 private:
  Activation activation_;
  torch::nn::Conv2d conv_;
  torch::nn::BatchNorm2d norm_{nullptr};
};
TORCH_MODULE(ConvBlock);

class ConvnetNetwork : public Network {
 public:
  ConvnetNetwork(const TaskSpec& task, ConvnetSizes sizes) : task_(task), sizes_(std::move(sizes)) {
    int64_t input = task.input_shape[0];
    for (std::size_t i = 0; i < sizes_.channels.size(); ++i) {
      const std::string name = "block" + std::to_string(i + 1);
      blocks_.push_back(register_module(name, ConvBlock(input, sizes_.channels[i], sizes_)));
      taps_.push_back(module_tap(name + ".conv"));
      taps_.push_back(block_tap(name));
      if (sizes_.pools_after(i)) taps_.push_back(block_tap(name + ".pool"));
      input = sizes_.channels[i];
    }
    taps_.push_back({"pool", TapLayout::Flat});  // the global pool is in both sets
    head_ = register_module("head", torch::nn::Linear(input, task.num_outputs));
  }

  NetworkOutput forward(const NetworkInput& input) override {
    check_image_input(task_, input);
    NetworkOutput out;
    // oneDNN's CPU convolutions run faster on channels-last (NHWC) tensors than on NCHW ones,
    // which they reorder on every call; the layers keep the layout, the taps' shapes are the same.
    auto x = input.inputs.is_cpu() ? input.inputs.contiguous(at::MemoryFormat::ChannelsLast)
                                   : input.inputs;
    for (std::size_t i = 0; i < blocks_.size(); ++i) {
      x = blocks_[i](x, out.taps);
      if (sizes_.pools_after(i)) {
        x = sizes_.pool == Pooling::Max ? torch::max_pool2d(x, 2) : torch::avg_pool2d(x, 2);
        out.taps.push_back(x);
      }
    }
    pool_and_classify(x, head_, out);
    return out;
  }

  std::vector<TapSpec> taps() const override { return taps_; }
  // Frozen forward passes are batch-invariant (common/Linear.h; BatchInvariance.* tests it).
  bool batch_invariant() const override { return true; }

 private:
  TaskSpec task_;
  ConvnetSizes sizes_;
  std::vector<ConvBlock> blocks_;
  torch::nn::Linear head_{nullptr};
  std::vector<TapSpec> taps_;
};

class ConvnetPlugin : public ArchitecturePlugin {
 public:
  PluginInfo info() const override {
    return {kName, "1.0.0",
            "plain CNN without residual connections: conv blocks with optional 2x2 pooling, "
            "global average pool, linear head; taps every convolution (module set), every block "
            "and 2x2 pooling (block set) and the global pool (both)",
            convnet_params().specs()};
  }

  std::shared_ptr<Network> build(const TaskSpec& task, const Params& params) const override {
    require_inputs(kName, task, InputKind::Image);
    const ConvnetSizes sizes = convnet_params().read(params);
    if (sizes.channels.empty()) {
      throw std::invalid_argument(std::string(kName) + ": channels must name at least one block");
    }
    if (sizes.kernel_size % 2 == 0) {
      throw std::invalid_argument(std::string(kName) + ": kernel_size must be odd, got " +
                                  std::to_string(sizes.kernel_size));
    }
    int64_t height = task.input_shape[1], width = task.input_shape[2];
    for (std::size_t i = 0; i < sizes.channels.size(); ++i) {
      if (!sizes.pools_after(i)) continue;
      if (height < 2 || width < 2) {
        throw std::invalid_argument(
            std::string(kName) + ": pooling after block " + std::to_string(i + 1) +
            " would shrink its " + std::to_string(height) + "x" + std::to_string(width) +
            " feature map of task '" + task.name +
            "' to nothing; raise pool_every, use fewer channels entries or set pool = \"none\"");
      }
      height /= 2;
      width /= 2;
    }
    return std::make_shared<ConvnetNetwork>(task, std::move(sizes));
  }
};

}  // namespace
}  // namespace guidance::architecture

GUIDANCE_PLUGIN_LIBRARY(registry) {
  registry.add(std::make_shared<guidance::architecture::ConvnetPlugin>());
}
