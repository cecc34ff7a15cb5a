// `shuffled`: a trained guide whose weights are permuted within each tensor. Each tensor keeps
// its exact values (so its weight statistics), while the structure training put in it is
// destroyed: a control separating "knowledge" from "weight distribution".
#include <torch/torch.h>

#include "guidance/api/PluginApi.h"
#include "plugins/guide-init/common/GuideTrainingParams.h"

namespace {

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
    auto params = guidance::guide_init::training_params();
    params.push_back(guidance::ParamSpec::boolean(
        "shuffle_buffers", false,
        "also permute floating-point buffers (e.g. batch-norm running statistics)"));
    return {"shuffled", "1.0.0",
            "trained guide with each weight tensor's entries randomly permuted (same statistics, "
            "no structure)",
            params};
  }
  std::shared_ptr<guidance::GuideInitializer> create(const guidance::Params& params) const override {
    return std::make_shared<ShuffledGuide>(guidance::guide_init::training_from(params),
                                           params.boolean("shuffle_buffers"));
  }
};

}  // namespace

GUIDANCE_PLUGIN_LIBRARY(registry) { registry.add(std::make_shared<ShuffledPlugin>()); }
