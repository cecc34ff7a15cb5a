#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "guidance/api/ParamTable.h"
#include "guidance/api/PluginApi.h"
#include "plugins/architecture/common/PooledHead.h"
#include "plugins/architecture/common/Tasks.h"

namespace guidance::architecture {
namespace {

constexpr const char* kName = "resnet";

enum class BlockKind { Basic, Bottleneck };
enum class Preset { ResNet18, ResNet50, Custom };

// The plugin's parameters (resnet_params() declares each), with their defaults. A preset other
// than custom replaces block and blocks after reading (build()).
struct ResnetSizes {
  Preset preset = Preset::Custom;
  BlockKind block = BlockKind::Basic;
  std::vector<int64_t> blocks{1, 1};
  int64_t base_width = 16;
  bool imagenet_stem = false;
  bool residual = true;
  bool torchvision_init = true;
};

const ParamTable<ResnetSizes>& resnet_params() {
  static const ParamTable<ResnetSizes> table =
      ParamTable<ResnetSizes>()
          .add_choice("preset", &ResnetSizes::preset,
                      "resnet18 (basic, 2-2-2-2), resnet50 (bottleneck, 3-4-6-3), or custom "
                      "(block and blocks below)",
                      {{"resnet18", Preset::ResNet18},
                       {"resnet50", Preset::ResNet50},
                       {"custom", Preset::Custom}})
          .add_choice("block", &ResnetSizes::block, "block type; used by preset custom only",
                      {{"basic", BlockKind::Basic}, {"bottleneck", BlockKind::Bottleneck}})
          .add("blocks", &ResnetSizes::blocks,
               "blocks per stage; each stage doubles the width and halves the resolution; used "
               "by preset custom only")
          .between(1, 64)
          .add("base_width", &ResnetSizes::base_width,
               "channels of the stem and the first stage (torchvision: 64)")
          .between(1, 1024)
          .add_choice("stem", &ResnetSizes::imagenet_stem,
                      "small: 3x3 conv (CIFAR); imagenet: 7x7/2 conv and 3x3/2 max pool "
                      "(torchvision)",
                      {{"small", false}, {"imagenet", true}})
          .add("residual", &ResnetSizes::residual,
               "keep the residual connections; false: no identity sum and no downsample "
               "projection (the released ModifiedResNet50)")
          // Not `init`: an architecture's table may be [guide], which reserves `init` for the
          // guide-init strategy.
          .add_choice("weight_init", &ResnetSizes::torchvision_init,
                      "torchvision: He-normal fan-out convolutions; pytorch: every layer's "
                      "default (the released ModifiedResNet50)",
                      {{"torchvision", true}, {"pytorch", false}});
  return table;
}

// Bias-free convolution padded so that stride 1 keeps the resolution, as torchvision's.
torch::nn::Conv2d conv(int64_t input, int64_t output, int64_t kernel, int64_t stride) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(input, output, kernel)
                               .stride(stride)
                               .padding(kernel / 2)
                               .bias(false));
}

// torchvision's BasicBlock (two 3x3 convolutions) or Bottleneck (v1.5: 1x1 reduce, 3x3 carrying
// the stride, 1x1 expand by 4). Each convolution is followed by batch norm, all but the last also
// by ReLU; the output is ReLU(main + identity), the identity projected by `downsample` (1x1
// convolution, batch norm) where the stride or the channels change. Without residual connections
// (the released ModifiedResNet50) there is neither a sum nor a projection: ReLU(main).
class BlockImpl : public torch::nn::Module {
 public:
  BlockImpl(int64_t input, int64_t width, int64_t stride, BlockKind kind, bool residual)
      : residual_(residual) {
    struct Layer {
      int64_t kernel, input, output, stride;
    };
    const std::vector<Layer> layers =
        kind == BlockKind::Basic
            ? std::vector<Layer>{{3, input, width, stride}, {3, width, width, 1}}
            : std::vector<Layer>{{1, input, width, 1}, {3, width, width, stride},
                                 {1, width, 4 * width, 1}};
    for (std::size_t i = 0; i < layers.size(); ++i) {
      const auto& layer = layers[i];
      const std::string index = std::to_string(i + 1);
      convs_.push_back(register_module(
          "conv" + index, conv(layer.input, layer.output, layer.kernel, layer.stride)));
      norms_.push_back(register_module("bn" + index, torch::nn::BatchNorm2d(layer.output)));
    }
    output_ = layers.back().output;
    if (residual && (stride != 1 || input != output_)) {
      auto downsample = register_group(*this, "downsample");
      downsample_conv_ = downsample->register_module("0", conv(input, output_, 1, stride));
      downsample_norm_ = downsample->register_module("1", torch::nn::BatchNorm2d(output_));
    }
  }

  // The names, relative to the block, of the convolutions forward() taps, in its call order.
  std::vector<std::string> module_taps() const {
    std::vector<std::string> names;
    for (std::size_t i = 1; i <= convs_.size(); ++i) names.push_back("conv" + std::to_string(i));
    if (downsample_conv_) names.push_back("downsample");
    return names;
  }

  // Appends the convolutions' outputs (module_taps()) and then the block's output to `taps`.
  torch::Tensor forward(const torch::Tensor& x, std::vector<torch::Tensor>& taps) {
    auto y = x;
    for (std::size_t i = 0; i < convs_.size(); ++i) {
      y = convs_[i](y);
      taps.push_back(y);
      y = norms_[i](y);
      if (i + 1 < convs_.size()) y = torch::relu(y);
    }
    if (residual_) {
      auto identity = x;
      // torchvision projects the identity after the main path; the tap order follows it.
      if (downsample_conv_) {
        identity = downsample_conv_(x);
        taps.push_back(identity);
        identity = downsample_norm_(identity);
      }
      y = y + identity;
    }
    taps.push_back(torch::relu(y));
    return taps.back();
  }

  int64_t output_channels() const { return output_; }

 private:
  bool residual_;
  std::vector<torch::nn::Conv2d> convs_;
  std::vector<torch::nn::BatchNorm2d> norms_;
  torch::nn::Conv2d downsample_conv_{nullptr};
  torch::nn::BatchNorm2d downsample_norm_{nullptr};
  int64_t output_ = 0;
};
TORCH_MODULE(Block);

// torchvision's ResNet under torchvision's names (conv1, bn1, layer{S}.{B}, fc). Module taps:
// every convolution before its batch norm, in call order, then the global average pool; block
// taps: the stem, every block's output and the pool.
class ResnetNetwork : public Network {
 public:
  ResnetNetwork(const TaskSpec& task, const ResnetSizes& sizes)
      : task_(task),
        imagenet_stem_(sizes.imagenet_stem),
        conv1_(register_module("conv1", sizes.imagenet_stem
                                            ? conv(task.input_shape[0], sizes.base_width, 7, 2)
                                            : conv(task.input_shape[0], sizes.base_width, 3, 1))),
        bn1_(register_module("bn1", torch::nn::BatchNorm2d(sizes.base_width))) {
    taps_ = {module_tap("conv1"), block_tap("stem")};
    int64_t channels = sizes.base_width;
    for (std::size_t stage = 0; stage < sizes.blocks.size(); ++stage) {
      const std::string stage_name = "layer" + std::to_string(stage + 1);
      auto group = register_group(*this, stage_name);
      const int64_t width = sizes.base_width << stage;
      for (int64_t b = 0; b < sizes.blocks[stage]; ++b) {
        const int64_t stride = stage > 0 && b == 0 ? 2 : 1;
        auto block = group->register_module(
            std::to_string(b), Block(channels, width, stride, sizes.block, sizes.residual));
        blocks_.push_back(block);
        for (const auto& name : block->module_taps()) {
          taps_.push_back(module_tap(stage_name + "." + std::to_string(b) + "." + name));
        }
        taps_.push_back(block_tap(stage_name + ".block" + std::to_string(b + 1)));
        channels = block->output_channels();
      }
    }
    taps_.push_back({"avgpool", TapLayout::Flat});  // the global pool is in both sets
    fc_ = register_module("fc", torch::nn::Linear(channels, task.num_outputs));
    if (sizes.torchvision_init) init_as_torchvision();
  }

  NetworkOutput forward(const NetworkInput& input) override {
    check_image_input(task_, input);
    NetworkOutput out;
    // oneDNN convolves float channels-last (NHWC) tensors without the reorders NCHW costs on
    // every call (as convnet does); the layers keep the layout, the taps' shapes are the same.
    // Float64 (the fidelity tests) stays NCHW: oneDNN has no float64 kernels.
    const bool channels_last = input.inputs.is_cpu() && input.inputs.scalar_type() == torch::kFloat;
    auto x = conv1_(channels_last ? input.inputs.contiguous(at::MemoryFormat::ChannelsLast)
                                  : input.inputs);
    out.taps.push_back(x);
    x = torch::relu(bn1_(x));
    if (imagenet_stem_) x = torch::max_pool2d(x, 3, 2, 1);
    out.taps.push_back(x);
    for (auto& block : blocks_) x = block(x, out.taps);
    pool_and_classify(x, fc_, out);
    return out;
  }

  std::vector<TapSpec> taps() const override { return taps_; }
  // Frozen forward passes are batch-invariant (common/Linear.h; BatchInvariance.* tests it).
  bool batch_invariant() const override { return true; }

 private:
  // As torchvision does once every layer exists, in the same module order: He-normal
  // convolutions (fan-out, ReLU gain). Its batch-norm reset (weight 1, bias 0) is LibTorch's
  // default already, and the classifier keeps Linear's default.
  void init_as_torchvision() {
    for (const auto& module : modules(/*include_self=*/false)) {
      if (auto* layer = module->as<torch::nn::Conv2dImpl>()) {
        torch::nn::init::kaiming_normal_(layer->weight, 0.0, torch::kFanOut, torch::kReLU);
      }
    }
  }

  TaskSpec task_;
  bool imagenet_stem_;
  torch::nn::Conv2d conv1_;
  torch::nn::BatchNorm2d bn1_;
  std::vector<Block> blocks_;
  torch::nn::Linear fc_{nullptr};
  std::vector<TapSpec> taps_;
};

class ResnetPlugin : public ArchitecturePlugin {
 public:
  PluginInfo info() const override {
    return {kName, "2.0.0",
            "torchvision's ResNet (names, v1.5 bottleneck, init) with basic or bottleneck "
            "blocks; residual = false gives the released plain ResNet-50; taps every "
            "convolution (module set), the stem and every block (block set) and the global "
            "pool (both)",
            resnet_params().specs()};
  }

  std::shared_ptr<Network> build(const TaskSpec& task, const Params& params) const override {
    require_inputs(kName, task, InputKind::Image);
    ResnetSizes sizes = resnet_params().read(params);
    if (sizes.preset == Preset::ResNet18) {
      sizes.block = BlockKind::Basic;
      sizes.blocks = {2, 2, 2, 2};
    } else if (sizes.preset == Preset::ResNet50) {
      sizes.block = BlockKind::Bottleneck;
      sizes.blocks = {3, 4, 6, 3};
    } else if (sizes.blocks.empty()) {
      throw std::invalid_argument(std::string(kName) +
                                  ": blocks must list at least one stage for preset \"custom\"");
    }
    return std::make_shared<ResnetNetwork>(task, sizes);
  }
};

}  // namespace
}  // namespace guidance::architecture

GUIDANCE_PLUGIN_LIBRARY(registry) {
  registry.add(std::make_shared<guidance::architecture::ResnetPlugin>());
}
