#pragma once

#include <memory>
#include <string>
#include <vector>

#include "guidance/api/Plugin.h"
#include "host/config/Config.h"
#include "host/plugins/PluginCatalog.h"
#include "host/training/LayerMap.h"

namespace guidance {

/// Everything a run is made of, built from a validated config. Every object made by a plugin
/// keeps its library loaded.
struct RunComponents {
  std::shared_ptr<Dataset> dataset;
  TaskSpec task;
  std::shared_ptr<Network> target;
  std::shared_ptr<Network> guide;                  ///< null for unguided runs
  std::shared_ptr<GuideInitializer> guide_init;    ///< null for unguided runs
  std::shared_ptr<Metric> metric;                  ///< guidance metric; null for unguided runs
  std::vector<TapPair> pairs;                      ///< empty for unguided runs
  std::vector<std::shared_ptr<Metric>> record_metrics;  ///< parallel to config.record.metrics
  torch::Device device = torch::kCPU;
};

/// @return a seed derived from the run's seed for one purpose ("target", "guide", "data", ...),
/// so that the streams are independent and stable.
uint64_t derive_seed(uint64_t seed, const std::string& purpose);

/// @return the device a config names; throws RunError when it is not usable here (e.g. "cuda"
/// with a CPU-only LibTorch), naming the device and what is available.
torch::Device resolve_device(const std::string& device);

/// Sets LibTorch's intra-op thread count: `threads`, or every core when 0.
/// @return the count in effect.
int apply_threads(int64_t threads);

/// Opens the dataset, builds target and guide (seeded), makes the metrics and the guide-init
/// strategy, and resolves the layer map. Does not initialise the guide nor move anything to the
/// device. Throws ConfigError for config mistakes that need the plugins to detect (a tap name,
/// a non-differentiable guidance metric, an architecture that refuses the task) and RunError
/// for data problems.
RunComponents assemble_run(const Config& config, const PluginCatalog& catalog);

/// @return one forward pass of `network` on `input` in eval mode and without gradients, for a
/// look at its outputs (shapes); the network's training mode is restored afterwards.
NetworkOutput inspect_forward(Network& network, const NetworkInput& input);

/// Distillation compares logits class by class: runs two train examples through target and guide
/// and throws ConfigError at `guidance.distillation` naming both shapes when they differ.
/// assemble_run() calls it for every distilling run (so `guidance check` does too).
void check_distillable(const Config& config, const RunComponents& run);

}  // namespace guidance
