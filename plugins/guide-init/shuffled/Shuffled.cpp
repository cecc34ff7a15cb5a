// `shuffled`: a trained guide whose weights are permuted within each tensor. Each tensor keeps
// its exact values (so its weight statistics), while the structure training put in it is
// destroyed: a control separating "knowledge" from "weight distribution".
#include <torch/torch.h>

#include "guidance/api/ParamTable.h"
#include "guidance/api/PluginApi.h"
#include "plugins/guide-init/common/GuideTrainingParams.h"

namespace {

// The plugin's parameters (shuffled_params() declares each), with their defaults.
struct ShuffledOptions {
  guidance::GuideTraining training = guidance::guide_init::guide_training_defaults();
  bool shuffle_buffers = false;
};

const guidance::ParamTable<ShuffledOptions>& shuffled_params() {
  static const guidance::ParamTable<ShuffledOptions> table =
      guidance::ParamTable<ShuffledOptions>()
          .add_all(&ShuffledOptions::training, guidance::guide_init::training_params())
          .add("shuffle_buffers", &ShuffledOptions::shuffle_buffers,
               "also permute floating-point buffers (e.g. batch-norm running statistics)");
  return table;
}

class ShuffledGuide : public guidance::GuideInitializer {
 public:
  ShuffledGuide(guidance::GuideTraining training, bool include_buffers)
      : training_(training), include_buffers_(include_buffers) {}

  void initialize(guidance::Network& guide, guidance::GuideServices& services) const override {
    services.train_cached(guide, training_);
    torch::NoGradGuard no_grad;
    for (auto& parameter : guide.parameters()) shuffle(parameter);
    if (include_buffers_) {
      for (auto& buffer : guide.buffers()) {
        if (buffer.is_floating_point()) shuffle(buffer);
      }
    }
  }

 private:
  static void shuffle(torch::Tensor& tensor) {
    torch::Tensor flat = tensor.reshape({-1});
    torch::Tensor order = torch::randperm(flat.numel(), torch::kLong).to(tensor.device());
    tensor.copy_(flat.index_select(0, order).reshape(tensor.sizes()));
  }

  guidance::GuideTraining training_;
  bool include_buffers_;
};

class ShuffledPlugin : public guidance::GuideInitPlugin {
 public:
  guidance::PluginInfo info() const override {
    return {"shuffled", "1.0.0",
            "trained guide with each weight tensor's entries randomly permuted (same statistics, "
            "no structure)",
            shuffled_params().specs()};
  }
  std::shared_ptr<guidance::GuideInitializer> create(const guidance::Params& params) const override {
    const ShuffledOptions options = shuffled_params().read(params);
    return std::make_shared<ShuffledGuide>(options.training, options.shuffle_buffers);
  }
};

}  // namespace

GUIDANCE_PLUGIN_LIBRARY(registry) { registry.add(std::make_shared<ShuffledPlugin>()); }
