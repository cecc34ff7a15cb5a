#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "guidance/api/PluginApi.h"
#include "plugins/architecture/common/PooledHead.h"
#include "plugins/architecture/common/Tasks.h"

namespace guidance::architecture {
namespace {

constexpr const char* kName = "resnet";

enum class BlockKind { Basic, Bottleneck };

// Filled from the plugin's validated params in build(); the ParamSpecs hold the defaults.
struct ResnetSizes {
  BlockKind block;
  std::vector<int64_t> blocks;
  int64_t base_width;
  bool imagenet_stem;
  bool residual;
};

// Bias-free convolution with "same" padding, initialised as torchvision's ResNet does (He normal,
// fan-out), which matters for training the deep variants without residuals at all.
torch::nn::Conv2d conv(int64_t input, int64_t output, int64_t kernel, int64_t stride) {
  torch::nn::Conv2d layer(torch::nn::Conv2dOptions(input, output, kernel)
                              .stride(stride)
                              .padding(kernel / 2)
                              .bias(false));
  torch::nn::init::kaiming_normal_(layer->weight, 0.0, torch::kFanOut, torch::kReLU);
  return layer;
}

// Small: 3x3 convolution at full resolution (CIFAR-style). ImageNet: 7x7 stride-2 convolution and
// 3x3 stride-2 max pooling.
class StemImpl : public torch::nn::Module {
 public:
  StemImpl(int64_t input, int64_t width, bool imagenet)
      : imagenet_(imagenet),
        conv_(register_module("conv", imagenet ? conv(input, width, 7, 2)
                                               : conv(input, width, 3, 1))),
        norm_(register_module("norm", torch::nn::BatchNorm2d(width))) {}

  torch::Tensor forward(const torch::Tensor& x) {
    auto y = torch::relu(norm_(conv_(x)));
    return imagenet_ ? torch::max_pool2d(y, 3, 2, 1) : y;
  }

 private:
  bool imagenet_;
  torch::nn::Conv2d conv_;
  torch::nn::BatchNorm2d norm_;
};
TORCH_MODULE(Stem);

// Basic: two 3x3 convolutions. Bottleneck: 1x1 reduce, 3x3, 1x1 expand by 4. Each convolution is
// followed by batch norm, and all but the last by ReLU; the block output is ReLU(main + shortcut),
// or ReLU(main) when residual connections are switched off (then no projection exists either).
class ResidualBlockImpl : public torch::nn::Module {
 public:
  ResidualBlockImpl(int64_t input, int64_t width, int64_t stride, BlockKind kind, bool residual)
      : residual_(residual) {
    struct Layer {
      int64_t kernel, input, output, stride;
    };
    std::vector<Layer> layers =
        kind == BlockKind::Basic
            ? std::vector<Layer>{{3, input, width, stride}, {3, width, width, 1}}
            : std::vector<Layer>{{1, input, width, 1}, {3, width, width, stride},
                                 {1, width, 4 * width, 1}};
    for (std::size_t i = 0; i < layers.size(); ++i) {
      const auto& layer = layers[i];
      const std::string index = std::to_string(i + 1);
      convs_.push_back(register_module(
          "conv" + index, conv(layer.input, layer.output, layer.kernel, layer.stride)));
      norms_.push_back(
          register_module("norm" + index, torch::nn::BatchNorm2d(layer.output)));
    }
    output_ = layers.back().output;
    if (residual && (stride != 1 || input != output_)) {
      shortcut_ = register_module(
          "shortcut", torch::nn::Sequential(conv(input, output_, 1, stride),
                                            torch::nn::BatchNorm2d(output_)));
    }
  }

  torch::Tensor forward(const torch::Tensor& x) {
    auto y = x;
    for (std::size_t i = 0; i < convs_.size(); ++i) {
      y = norms_[i](convs_[i](y));
      if (i + 1 < convs_.size()) y = torch::relu(y);
    }
    if (residual_) y = y + (shortcut_ ? shortcut_->forward(x) : x);
    return torch::relu(y);
  }

  int64_t output_channels() const { return output_; }

 private:
  bool residual_;
  std::vector<torch::nn::Conv2d> convs_;
  std::vector<torch::nn::BatchNorm2d> norms_;
  torch::nn::Sequential shortcut_{nullptr};
  int64_t output_ = 0;
};
TORCH_MODULE(ResidualBlock);

class ResnetNetwork : public Network {
 public:
  ResnetNetwork(const TaskSpec& task, const ResnetSizes& sizes)
      : task_(task),
        stem_(register_module("stem", Stem(task.input_shape[0], sizes.base_width,
                                           sizes.imagenet_stem))) {
    taps_.push_back({"stem", TapLayout::Flat});
    int64_t channels = sizes.base_width;
    for (std::size_t stage = 0; stage < sizes.blocks.size(); ++stage) {
      const std::string stage_name = "layer" + std::to_string(stage + 1);
      auto group = register_group(*this, stage_name);
      const int64_t width = sizes.base_width << stage;
      for (int64_t b = 0; b < sizes.blocks[stage]; ++b) {
        const std::string block_name = "block" + std::to_string(b + 1);
        const int64_t stride = stage > 0 && b == 0 ? 2 : 1;
        auto block = group->register_module(
            block_name, ResidualBlock(channels, width, stride, sizes.block, sizes.residual));
        blocks_.push_back(block);
        taps_.push_back({stage_name + "." + block_name, TapLayout::Flat});
        channels = block->output_channels();
      }
    }
    taps_.push_back({"pool", TapLayout::Flat});
    head_ = register_module("head", torch::nn::Linear(channels, task.num_outputs));
  }

  NetworkOutput forward(const NetworkInput& input) override {
    check_image_input(task_, input);
    NetworkOutput out;
    auto x = stem_(input.inputs);
    out.taps.push_back(x);
    for (auto& block : blocks_) {
      x = block(x);
      out.taps.push_back(x);
    }
    pool_and_classify(x, head_, out);
    return out;
  }

  std::vector<TapSpec> taps() const override { return taps_; }

 private:
  TaskSpec task_;
  Stem stem_;
  std::vector<ResidualBlock> blocks_;
  torch::nn::Linear head_{nullptr};
  std::vector<TapSpec> taps_;
};

class ResnetPlugin : public ArchitecturePlugin {
 public:
  PluginInfo info() const override {
    return {kName, "1.0.0",
            "ResNet with basic or bottleneck blocks; residual = false gives the plain deep "
            "ConvNet; taps the stem, every block and the global pool",
            {
                ParamSpec::string("preset", "custom",
                                  "resnet18 (basic, 2-2-2-2), resnet50 (bottleneck, 3-4-6-3), "
                                  "or custom (block and blocks below)")
                    .one_of({"resnet18", "resnet50", "custom"}),
                ParamSpec::string("block", "basic", "block type; used by preset custom only")
                    .one_of({"basic", "bottleneck"}),
                ParamSpec::integers("blocks", {1, 1},
                                    "blocks per stage; each stage doubles the width and halves "
                                    "the resolution; used by preset custom only")
                    .between(1, 64),
                ParamSpec::integer("base_width", 16,
                                   "channels of the stem and the first stage (paper: 64)")
                    .between(1, 1024),
                ParamSpec::string("stem", "small",
                                  "small: 3x3 conv (CIFAR); imagenet: 7x7/2 conv and 3x3/2 max "
                                  "pool")
                    .one_of({"small", "imagenet"}),
                ParamSpec::boolean("residual", true,
                                   "keep the residual connections; false gives the paper's deep "
                                   "ConvNet"),
            }};
  }

  std::shared_ptr<Network> build(const TaskSpec& task, const Params& params) const override {
    require_inputs(kName, task, InputKind::Image);
    ResnetSizes sizes;
    const std::string& preset = params.string("preset");
    if (preset == "resnet18") {
      sizes.block = BlockKind::Basic;
      sizes.blocks = {2, 2, 2, 2};
    } else if (preset == "resnet50") {
      sizes.block = BlockKind::Bottleneck;
      sizes.blocks = {3, 4, 6, 3};
    } else {
      sizes.block = params.string("block") == "basic" ? BlockKind::Basic : BlockKind::Bottleneck;
      sizes.blocks = params.integers("blocks");
      if (sizes.blocks.empty()) {
        throw std::invalid_argument(std::string(kName) +
                                    ": blocks must list at least one stage for preset \"custom\"");
      }
    }
    sizes.base_width = params.integer("base_width");
    sizes.imagenet_stem = params.string("stem") == "imagenet";
    sizes.residual = params.boolean("residual");
    return std::make_shared<ResnetNetwork>(task, sizes);
  }
};

}  // namespace
}  // namespace guidance::architecture

GUIDANCE_PLUGIN_LIBRARY(registry) {
  registry.add(std::make_shared<guidance::architecture::ResnetPlugin>());
}
