#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "guidance/api/ParamTable.h"
#include "guidance/api/PluginApi.h"
#include "plugins/architecture/common/Linear.h"
#include "plugins/architecture/common/Tasks.h"
#include "plugins/architecture/common/TransformerBody.h"

namespace guidance::architecture {
namespace {

constexpr const char* kName = "vit";

enum class Pool { Cls, Mean };

// The plugin's parameters (vit_params() declares each), with their defaults.
struct VitOptions {
  TransformerOptions body;
  int64_t patch_size = 4;
  Pool pool = Pool::Cls;
};

const ParamTable<VitOptions>& vit_params() {
  static const ParamTable<VitOptions> table =
      ParamTable<VitOptions>()
          .add_all(&VitOptions::body, transformer_params())
          .add("patch_size", &VitOptions::patch_size,
               "side of the square patches; divides the image")
          .between(1, 1024)
          .add_choice("pool", &VitOptions::pool,
                      "image representation: the CLS token or the mean of the patch tokens",
                      {{"cls", Pool::Cls}, {"mean", Pool::Mean}});
  return table;
}

class VitNetwork : public TransformerBody {
 public:
  VitNetwork(const TaskSpec& task, const TransformerSizes& sizes, int64_t patch, bool cls_pool)
      : TransformerBody(sizes),
        task_(task),
        cls_pool_(cls_pool),
        patches_(register_module(
            "patches", torch::nn::Conv2d(torch::nn::Conv2dOptions(task.input_shape[0],
                                                                  sizes.width, patch)
                                             .stride(patch)))),
        norm_(register_module("norm",
                              torch::nn::LayerNorm(torch::nn::LayerNormOptions({sizes.width})))),
        head_(register_module("head", torch::nn::Linear(sizes.width, task.num_outputs))) {
    const int64_t tokens =
        (task.input_shape[1] / patch) * (task.input_shape[2] / patch) + (cls_pool ? 1 : 0);
    if (cls_pool) cls_ = register_parameter("cls", torch::randn({1, 1, sizes.width}) * 0.02);
    positions_ = register_parameter("positions", torch::randn({1, tokens, sizes.width}) * 0.02);
    taps_.push_back(module_tap("patches"));
    auto blocks = taps_of_blocks(TapLayout::Flat);
    taps_.insert(taps_.end(), blocks.begin(), blocks.end());
    taps_.push_back(module_tap("norm"));
    taps_.push_back(block_tap("pool"));
  }

  NetworkOutput forward(const NetworkInput& input) override {
    check_image_input(task_, input);
    NetworkOutput out;
    auto patches = patches_(input.inputs);
    out.taps.push_back(patches);
    auto x = patches.flatten(2).transpose(1, 2);
    if (cls_pool_) x = torch::cat({cls_.expand({x.size(0), 1, x.size(2)}), x}, 1);
    x = x + positions_;
    auto everywhere = torch::ones({1, x.size(1), x.size(1)}, x.options().dtype(torch::kBool));
    x = layer_norm(*norm_, run_blocks(x, everywhere, out.taps));
    out.taps.push_back(x);
    auto pooled = cls_pool_ ? x.select(1, 0) : x.mean(1);
    out.taps.push_back(pooled);
    out.logits = linear(*head_, pooled);
    return out;
  }

  std::vector<TapSpec> taps() const override { return taps_; }
  // Frozen forward passes are batch-invariant (common/Linear.h; BatchInvariance.* tests it).
  bool batch_invariant() const override { return true; }

 private:
  TaskSpec task_;
  bool cls_pool_;
  torch::nn::Conv2d patches_;
  torch::nn::LayerNorm norm_;
  torch::nn::Linear head_;
  torch::Tensor cls_;
  torch::Tensor positions_;
  std::vector<TapSpec> taps_;
};

class VitPlugin : public ArchitecturePlugin {
 public:
  PluginInfo info() const override {
    return {kName, "1.0.0",
            "vision transformer over image patches; taps every attention and feed-forward "
            "output and the pooled representation (block set), and the patch embedding and "
            "every LayerNorm and Linear output but the head's (module set)",
            vit_params().specs()};
  }

  std::shared_ptr<Network> build(const TaskSpec& task, const Params& params) const override {
    require_inputs(kName, task, InputKind::Image);
    const VitOptions options = vit_params().read(params);
    const TransformerSizes sizes = transformer_sizes(kName, options.body);
    const int64_t patch = options.patch_size;
    const int64_t height = task.input_shape[1], width = task.input_shape[2];
    if (height % patch != 0 || width % patch != 0) {
      throw std::invalid_argument(std::string(kName) + ": patch_size " + std::to_string(patch) +
                                  " does not divide the " + std::to_string(height) + "x" +
                                  std::to_string(width) + " images of task '" + task.name + "'");
    }
    return std::make_shared<VitNetwork>(task, sizes, patch, options.pool == Pool::Cls);
  }
};

}  // namespace
}  // namespace guidance::architecture

GUIDANCE_PLUGIN_LIBRARY(registry) {
  registry.add(std::make_shared<guidance::architecture::VitPlugin>());
}
