#include <memory>
#include <string>
#include <vector>

#include "guidance/api/ParamTable.h"
#include "guidance/api/PluginApi.h"
#include "plugins/architecture/common/Linear.h"
#include "plugins/architecture/common/Tasks.h"
#include "plugins/architecture/common/TransformerBody.h"

namespace guidance::architecture {
namespace {

constexpr const char* kName = "transformer";

enum class Positions { Learned, Sinusoidal };

// The plugin's parameters (transformer_plugin_params() declares each), with their defaults.
struct TransformerPluginOptions {
  TransformerOptions body;
  Positions positions = Positions::Learned;
};

const ParamTable<TransformerPluginOptions>& transformer_plugin_params() {
  using Options = TransformerPluginOptions;
  static const ParamTable<Options> table =
      ParamTable<Options>()
          .add_all(&Options::body, transformer_params())
          .add_choice("positions", &Options::positions,
                      "position encoding: learned table or fixed sinusoids",
                      {{"learned", Positions::Learned}, {"sinusoidal", Positions::Sinusoidal}});
  return table;
}

// A query may attend to real keys (and, if causal, only to those not after it). Each position may
// always attend to itself so that padded queries never face an all-masked row (NaN softmax);
// padded keys stay invisible to real queries, so padding cannot influence real positions.
torch::Tensor allowed_attention(const torch::Tensor& mask, bool causal) {
  const int64_t batch = mask.size(0), length = mask.size(1);
  auto allowed = mask.unsqueeze(1).expand({batch, length, length});
  if (causal) {
    allowed = allowed.logical_and(torch::ones({length, length}, mask.options()).tril());
  }
  return allowed.logical_or(torch::eye(length, mask.options()));
}

class TransformerNetwork : public TransformerBody {
 public:
  TransformerNetwork(const TaskSpec& task, const TransformerSizes& sizes, bool learned_positions)
      : TransformerBody(sizes),
        task_(task),
        causal_(task.target_kind == TargetKind::TokenPerPosition),
        embedding_(register_module("embedding",
                                   torch::nn::Embedding(task.vocab_size, sizes.width))),
        norm_(register_module("norm",
                              torch::nn::LayerNorm(torch::nn::LayerNormOptions({sizes.width})))),
        head_(register_module("head", torch::nn::Linear(sizes.width, task.num_outputs))) {
    const int64_t max_length = task.input_shape[0];
    positions_ = learned_positions
                     ? register_parameter("positions",
                                          torch::randn({max_length, sizes.width}) * 0.02)
                     : register_buffer("positions", sinusoidal_positions(max_length, sizes.width));
  }

  NetworkOutput forward(const NetworkInput& input) override {
    check_token_input(task_, input);
    NetworkOutput out;
    const int64_t length = input.inputs.size(1);
    auto x = embedding_(input.inputs) + positions_.slice(0, 0, length);
    x = layer_norm(*norm_, run_blocks(x, allowed_attention(input.mask, causal_), out.taps));
    out.taps.push_back(x);
    out.logits = linear(*head_, causal_ ? x : masked_mean(x, input.mask));
    return out;
  }

  // Frozen forward passes are batch-invariant (common/Linear.h; BatchInvariance.* tests it).
  bool batch_invariant() const override { return true; }
  std::vector<TapSpec> taps() const override {
    auto specs = taps_of_blocks(TapLayout::Sequence);
    specs.push_back(module_tap("norm", TapLayout::Sequence));
    return specs;
  }

 private:
  TaskSpec task_;
  bool causal_;
  torch::nn::Embedding embedding_;
  torch::nn::LayerNorm norm_;
  torch::nn::Linear head_;
  torch::Tensor positions_;
};

class TransformerPlugin : public ArchitecturePlugin {
 public:
  PluginInfo info() const override {
    return {kName, "1.0.0",
            "transformer over tokens: causal decoder for per-position targets, mean-pooled "
            "encoder for class targets; taps every attention and feed-forward output (block "
            "set) and every LayerNorm and Linear output but the head's (module set)",
            transformer_plugin_params().specs()};
  }

  std::shared_ptr<Network> build(const TaskSpec& task, const Params& params) const override {
    require_inputs(kName, task, InputKind::Tokens);
    const TransformerPluginOptions options = transformer_plugin_params().read(params);
    return std::make_shared<TransformerNetwork>(task, transformer_sizes(kName, options.body),
                                                options.positions == Positions::Learned);
  }
};

}  // namespace
}  // namespace guidance::architecture

GUIDANCE_PLUGIN_LIBRARY(registry) {
  registry.add(std::make_shared<guidance::architecture::TransformerPlugin>());
}
