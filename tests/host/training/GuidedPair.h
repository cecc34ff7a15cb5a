#pragma once
// A guided pair built from the real plugins, for tests that drive a Trainer directly.

#include <memory>
#include <string>
#include <vector>

#include "host/plugins/PluginCatalog.h"
#include "host/training/LayerMap.h"
#include "tests/support/TestSupport.h"

namespace guidance::testing {

/// A dataset, a target and a guide (seeded with torch::manual_seed(seed) before they are built),
/// linear CKA and the uniform map between their taps; parameters not given keep their defaults.
struct GuidedPair {
  GuidedPair(const std::string& dataset_name, const Params& data, const std::string& target_name,
             const Params& target_params, const std::string& guide_name,
             const Params& guide_params, uint64_t seed = 3) {
    const PluginCatalog& catalog = built_plugins();
    auto with_defaults = [](const std::vector<ParamSpec>& specs, const Params& given) {
      Params all = defaults_of(specs);
      for (const auto& [key, value] : given.values()) all.set(key, value);
      return all;
    };
    auto dataset_plugin = catalog.dataset(dataset_name);
    dataset = dataset_plugin->open(with_defaults(dataset_plugin->info().params, data),
                                   DatasetContext{5, "."});
    task = dataset->task();
    torch::manual_seed(seed);
    auto build = [&](const std::string& name, const Params& params) {
      auto plugin = catalog.architecture(name);
      return plugin->build(task, with_defaults(plugin->info().params, params));
    };
    target = build(target_name, target_params);
    guide = build(guide_name, guide_params);
    auto metric_plugin = catalog.metric("linear-cka");
    metric = metric_plugin->create(defaults_of(metric_plugin->info().params));
    pairs = uniform_layer_map(guide->taps(), target->taps());
  }

  std::shared_ptr<Dataset> dataset;
  TaskSpec task;
  std::shared_ptr<Network> target;
  std::shared_ptr<Network> guide;
  std::shared_ptr<Metric> metric;
  std::vector<TapPair> pairs;
};

}  // namespace guidance::testing
