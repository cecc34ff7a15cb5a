// `untrained`: a randomly initialised guide, frozen; it passes on its architecture's prior alone.
// The host seeds LibTorch from the run seed before calling, so the guide is reproducible.
#include <torch/torch.h>

#include "guidance/api/ParamTable.h"
#include "guidance/api/PluginApi.h"

namespace {

// The plugin's parameters (untrained_params() declares each), with their defaults.
struct UntrainedOptions {
  std::string scheme = "architecture";
};

const guidance::ParamTable<UntrainedOptions>& untrained_params() {
  static const guidance::ParamTable<UntrainedOptions> table =
      guidance::ParamTable<UntrainedOptions>()
          .add("scheme", &UntrainedOptions::scheme,
               "initialisation: the architecture's own, or a re-initialisation of every weight "
               "matrix/kernel (biases 0, 1-d weights such as norm scales 1)")
          .one_of({"architecture", "kaiming-normal", "xavier-normal", "orthogonal"});
  return table;
}

class UntrainedGuide : public guidance::GuideInitializer {
 public:
  explicit UntrainedGuide(std::string scheme) : scheme_(std::move(scheme)) {}

  void initialize(guidance::Network& guide, guidance::GuideServices& /*services*/) const override {
    // "architecture" keeps the seeded initialisation the architecture itself chose.
    if (scheme_ == "architecture") return;
    torch::NoGradGuard no_grad;
    for (auto& item : guide.named_parameters()) {
      torch::Tensor& tensor = item.value();
      if (tensor.dim() < 2) {
        // 1-d "weight"s are normalisation scales (start at 1); the rest are biases and shifts.
        const std::string& name = item.key();
        bool scale = name.size() >= 6 && name.compare(name.size() - 6, 6, "weight") == 0;
        tensor.fill_(scale ? 1.0 : 0.0);
        continue;
      }
      if (scheme_ == "kaiming-normal") {
        torch::nn::init::kaiming_normal_(tensor, 0.0, torch::kFanIn, torch::kReLU);
      } else if (scheme_ == "xavier-normal") {
        torch::nn::init::xavier_normal_(tensor);
      } else {
        torch::nn::init::orthogonal_(tensor);
      }
    }
  }

 private:
  std::string scheme_;
};

class UntrainedPlugin : public guidance::GuideInitPlugin {
 public:
  guidance::PluginInfo info() const override {
    return {"untrained", "1.0.0", "randomly initialised guide (seeded from the run seed), frozen",
            untrained_params().specs()};
  }
  std::shared_ptr<guidance::GuideInitializer> create(const guidance::Params& params) const override {
    return std::make_shared<UntrainedGuide>(untrained_params().read(params).scheme);
  }
};

}  // namespace

GUIDANCE_PLUGIN_LIBRARY(registry) { registry.add(std::make_shared<UntrainedPlugin>()); }
