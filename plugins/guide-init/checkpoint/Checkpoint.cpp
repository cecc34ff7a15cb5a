// `checkpoint`: the guide's weights come from a weights file (e.g. best.pt or guide.pt of an
// earlier run, or a guide-cache file). The host reports missing or mis-shaped tensors by name.
#include "guidance/api/InputFile.h"
#include "guidance/api/ParamTable.h"
#include "guidance/api/PluginApi.h"

namespace {

// The plugin's parameters (checkpoint_params() declares each); `path` has no default.
struct CheckpointOptions {
  std::string path;
};

const guidance::ParamTable<CheckpointOptions>& checkpoint_params() {
  static const guidance::ParamTable<CheckpointOptions> table =
      guidance::ParamTable<CheckpointOptions>()
          .add("path", &CheckpointOptions::path,
               "weights file (relative to the config's folder), e.g. results/<run>/best.pt")
          .mandatory();
  return table;
}

class CheckpointGuide : public guidance::GuideInitializer {
 public:
  explicit CheckpointGuide(std::string path) : path_(std::move(path)) {}
  void initialize(guidance::Network& guide, guidance::GuideServices& services) const override {
    try {
      services.load_weights(guide, path_);
    } catch (const std::runtime_error& error) {
      // The file the key names is unusable: the host reports it at the key.
      throw guidance::ParamError("path", error.what());
    }
  }

 private:
  std::string path_;
};

class CheckpointPlugin : public guidance::GuideInitPlugin {
 public:
  guidance::PluginInfo info() const override {
    return {"checkpoint", "1.0.0", "guide weights loaded from a weights file written by the workbench",
            checkpoint_params().specs()};
  }
  std::shared_ptr<guidance::GuideInitializer> create(const guidance::Params& params) const override {
    return std::make_shared<CheckpointGuide>(checkpoint_params().read(params).path);
  }
};

}  // namespace

GUIDANCE_PLUGIN_LIBRARY(registry) { registry.add(std::make_shared<CheckpointPlugin>()); }
