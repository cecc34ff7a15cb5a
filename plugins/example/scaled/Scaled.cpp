// Example plugin: a guide-init strategy that keeps the architecture's own initialisation and
// scales every weight matrix and kernel by a factor.
//
// A guide-init plugin is a factory that creates an initializer from validated parameters. The
// host builds the guide with its architecture's seeded initialisation, seeds torch for guide
// init, calls initialize() once, then saves the guide to guide.pt and freezes it.
#include <torch/torch.h>

#include "guidance/api/ParamTable.h"
#include "guidance/api/PluginApi.h"

namespace {

class ScaledGuide : public guidance::GuideInitializer {
 public:
  explicit ScaledGuide(double factor) : factor_(factor) {}

  // Prepares the guide in place. GuideServices offers what a strategy may need of the host
  // (unguided training with a cache, loading weights, the run's seed, the config's folder);
  // rescaling needs none of it.
  void initialize(guidance::Network& guide, guidance::GuideServices& /*services*/) const override {
    torch::NoGradGuard no_grad;  // an in-place change of parameters is not part of any graph
    for (torch::Tensor& parameter : guide.parameters()) {
      // Biases and normalisation scales (one dimension) keep their values.
      if (parameter.dim() >= 2) parameter.mul_(factor_);
    }
  }

 private:
  double factor_;
};

// The plugin's parameters, declared once (see guidance/api/ParamTable.h).
struct ScaledOptions {
  double factor = 0.5;
};

const guidance::ParamTable<ScaledOptions>& scaled_params() {
  static const guidance::ParamTable<ScaledOptions> table =
      guidance::ParamTable<ScaledOptions>()
          .add("factor", &ScaledOptions::factor, "multiplies every weight matrix and kernel")
          .between(0.0, 100.0);
  return table;
}

class ScaledPlugin : public guidance::GuideInitPlugin {
 public:
  guidance::PluginInfo info() const override {
    return {"example-scaled", "1.0.0",
            "example: the architecture's own initialisation, weight matrices and kernels scaled",
            scaled_params().specs()};
  }

  std::shared_ptr<guidance::GuideInitializer> create(const guidance::Params& params) const override {
    return std::make_shared<ScaledGuide>(scaled_params().read(params).factor);
  }
};

}  // namespace

GUIDANCE_PLUGIN_LIBRARY(registry) { registry.add(std::make_shared<ScaledPlugin>()); }
