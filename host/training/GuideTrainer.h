#pragma once

#include <memory>
#include <ostream>
#include <string>

#include "guidance/api/GuideInit.h"
#include "host/config/Config.h"
#include "host/training/RunSetup.h"

namespace guidance {

/// The host's side of guide initialisation: trains guides (cached), loads weights files.
///
/// A trained guide is cached under <run.output>/guide-cache/<key>.pt, where the key hashes
/// everything that determines it: the guide architecture and its parameters, the dataset and its
/// parameters, both plugins' versions, the run seed, the training settings, the device type, the
/// plugin ABI and LibTorch versions. The next run or sweep run with the same key loads it instead
/// of training.
class HostGuideServices : public GuideServices {
 public:
  HostGuideServices(const Config& config, const PluginCatalog& catalog, const RunComponents& run,
                    std::ostream& log, bool quiet);

  bool train_cached(Network& guide, const GuideTraining& training) override;
  void load_weights(Network& guide, const std::string& path) override;
  uint64_t seed() const override { return config_.run.seed; }
  std::string base_directory() const override { return config_.document.directory; }

  /// @return the cache file a guide trained with `training` would have.
  std::string cache_path(const GuideTraining& training) const;

 private:
  const Config& config_;
  const PluginCatalog& catalog_;
  const RunComponents& run_;
  std::ostream& log_;
  bool quiet_;
};

/// Initialises a run's guide with its guide-init strategy, seeded from the run's seed ("guide-init"),
/// as `guidance run` does: a trained guide is trained once and cached (see HostGuideServices).
void initialize_guide(const Config& config, const PluginCatalog& catalog, const RunComponents& run,
                      std::ostream& log, bool quiet);

}  // namespace guidance
