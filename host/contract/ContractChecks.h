#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "guidance/api/Params.h"
#include "guidance/api/Task.h"
#include "host/plugins/PluginCatalog.h"

namespace guidance {

/// The outcome of one contract check on one plugin.
struct CheckResult {
  std::string check;   ///< what was checked, e.g. "same seed builds the same network (image task)"
  bool passed = false;
  std::string detail;  ///< why it failed; "" when it passed
};

/// Where and how the checks run.
struct ContractOptions {
  uint64_t seed = 0;           ///< torch seed and dataset seed
  std::string base_directory;  ///< datasets and guide inits resolve relative paths against it
  /// Where guide-init strategies find the architecture of the guide they are checked on (built
  /// with its defaults for a 3×32×32 image task); usually the catalog holding the strategy.
  /// None: guide-init strategies are only created.
  const PluginCatalog* architectures = nullptr;
  std::string guide_architecture = "mlp";
  /// The input shape of the image task architectures are checked on (`plugins test
  /// --input-shape`): [C, H, W] by default, any rank and positive sizes; the guide-init checks
  /// keep contract_guide_task().
  std::vector<int64_t> image_shape{3, 32, 32};
};

/// @return the task guide-init strategies are checked on (3×32×32 images, 10 classes), so that
/// a test or a user can make a weights file for it.
TaskSpec contract_guide_task();

/// Runs the contract every plugin of its kind promises (docs/plugins.md, "Contract checks"):
///  - architecture: taps declared before forward and returned in order, logits and tap shapes for
///    the task, determinism under a seed, gradients reaching every parameter, on each small test
///    task the plugin accepts (image of options.image_shape, tokens with a class, tokens per
///    position);
///  - metric: self-description, traits of a created metric, range and symmetry, distance 0 for
///    identical inputs, float32 against float64, finite values and gradients on constant input,
///    gradients against finite differences when differentiable, clean refusal of mismatched and
///    too few rows;
///  - dataset: opens, a sane task, batch shapes, types and value ranges for every split, masks,
///    batches a pure function of seed and indices, out-of-range indices refused;
///  - guide-init: creates an initializer that leaves a usable (finite) guide, the same under the
///    same seed.
/// Each check runs on its own: an exception fails that check (with its message), not the rest.
/// @param params the plugin's validated parameters (its defaults, or values a user gave)
std::vector<CheckResult> check_contract(const CatalogEntry& entry, const Params& params,
                                        const ContractOptions& options);

/// Prints one line per check, "PASS  <plugin>: <check>" or "FAIL  <plugin>: <check>: <why>".
/// @return whether every check passed
bool print_results(const std::string& plugin, const std::vector<CheckResult>& results,
                   std::ostream& out);

}  // namespace guidance
