#pragma once

#include <string>
#include <vector>

#include "host/config/Config.h"
#include "host/config/KeySpec.h"

namespace guidance {

/// The keys of each config section, declared once (name, member, range or choices, doc): what
/// validate_config reads, what Config::resolved_toml writes and what docs/config.md lists.
const std::vector<KeySpec<RunSection>>& run_keys();
const std::vector<KeySpec<DistributedSection>>& distributed_keys();
const std::vector<KeySpec<GuidanceSection>>& guidance_keys();
const std::vector<KeySpec<TrainSection>>& train_keys();
const std::vector<KeySpec<RecordSection>>& record_keys();

/// The key table of one config section.
struct SectionReference {
  std::string table;               ///< "[run]", "[run.distributed]", "[guidance]", "[train]", "[record]"
  std::vector<KeyReference> keys;  ///< in declaration order
};

/// @return every section's key table, as docs/config.md shows them.
std::vector<SectionReference> config_reference();

/// @return whether `key_path` (dotted: "run.threads", "record.metrics.0") is declared
/// leaves_results(): it cannot change what a run trains and measures, so a summary groups runs
/// that differ only in such keys into one cell.
bool leaves_results(const std::string& key_path);

/// @return `run.seed=0;run.device="cpu"`: the value of every key declared trains_guide(), the
/// part of a trained guide's cache key that comes from the config's sections (GuideTrainer adds
/// the guide's and the dataset's plugin tables and the guide's training settings).
std::string guide_training_settings(const Config& config);

/// The key path that turns guidance off: an unguided run has `guidance.enabled = false`.
inline constexpr const char* kGuidanceEnabledKey = "guidance.enabled";

/// @return whether `key_path` (dotted: "guide.init.plugin") cannot change an unguided run: the
/// guide and the guidance settings. A sweep runs its declared baseline once across axes of such
/// keys, and a summary leaves them out of an unguided run's cell.
bool unguided_run_ignores(const std::string& key_path);

}  // namespace guidance
