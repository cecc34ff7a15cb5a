// `trained`: the guide is trained on the run's own task first, then frozen; it passes on its
// architecture's prior and its knowledge. The host caches the result.
#include "guidance/api/ParamTable.h"
#include "guidance/api/PluginApi.h"
#include "plugins/guide-init/common/GuideTrainingParams.h"

namespace {

class TrainedGuide : public guidance::GuideInitializer {
 public:
  explicit TrainedGuide(guidance::GuideTraining training) : training_(training) {}
  void initialize(guidance::Network& guide, guidance::GuideServices& services) const override {
    services.train_cached(guide, training_);
  }

 private:
  guidance::GuideTraining training_;
};

class TrainedPlugin : public guidance::GuideInitPlugin {
 public:
  guidance::PluginInfo info() const override {
    return {"trained", "1.0.0",
            "guide trained on the run's task first (cached by a hash of its settings), then frozen",
            guidance::guide_init::training_params().specs()};
  }
  std::shared_ptr<guidance::GuideInitializer> create(const guidance::Params& params) const override {
    return std::make_shared<TrainedGuide>(guidance::guide_init::training_params().read(params));
  }
};

}  // namespace

GUIDANCE_PLUGIN_LIBRARY(registry) { registry.add(std::make_shared<TrainedPlugin>()); }
