#pragma once

#include "guidance/api/Visibility.h"

#include <cstdint>
#include <string>

#include "guidance/api/Network.h"
#include "guidance/api/Training.h"

namespace guidance {

/// Services the host offers a guide-init strategy. Implemented by the host, so strategies stay
/// small and caching, training and checkpoint formats live in one place.
class GUIDANCE_API GuideServices {
 public:
  virtual ~GuideServices() = default;

  /// Trains `guide` unguided on the run's task, or loads the result from the cache when a guide
  /// with the same architecture, parameters, task, seed and training settings was trained before.
  /// @return true if the result came from the cache.
  virtual bool train_cached(Network& guide, const GuideTraining& training) = 0;

  /// Loads weights from a checkpoint file written by the workbench (or torch::save of a module's
  /// parameters). Throws naming every missing, unexpected or mis-shaped tensor.
  virtual void load_weights(Network& guide, const std::string& path) = 0;

  /// @return the run's seed (strategies derive their randomness from it).
  virtual uint64_t seed() const = 0;

  /// @return the directory relative paths in the config are resolved against.
  virtual std::string base_directory() const = 0;
};

/// A guide-initialisation strategy, created from validated parameters. It runs once, before
/// guided training; after it the host freezes the guide.
class GUIDANCE_API GuideInitializer {
 public:
  virtual ~GuideInitializer() = default;

  /// Prepares `guide` in place. The guide arrives freshly built by its architecture plugin with
  /// the architecture's own seeded initialisation.
  virtual void initialize(Network& guide, GuideServices& services) const = 0;
};

}  // namespace guidance
