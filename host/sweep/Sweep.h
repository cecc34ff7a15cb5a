#pragma once

#include <string>
#include <utility>
#include <vector>

#include "host/config/Config.h"

namespace guidance {

/// One run of a sweep: its document with the axis values applied, and those values.
struct SweepRun {
  ConfigDocument document;
  std::string name;                                          ///< run.name after expansion
  std::vector<std::pair<std::string, std::string>> settings;  ///< (key path, value as TOML)
};

/// Expands a document's [sweep] table into the cross product of its axes.
///
/// Each [sweep] key is a quoted dotted key path of the config and its value a non-empty list:
///
///     [sweep]
///     "guidance.enabled" = [false, true]
///     "guidance.alpha" = [0.5, 1.0]
///     "guide.init" = [{ plugin = "untrained" }, { plugin = "trained", epochs = 2 }]
///
/// Each run's name is `<run.name>/<axis>=<value>,...` (the last path component names the axis
/// unless that is ambiguous; a table value is named by its `plugin`), so its record lands in its own folder under the sweep's folder.
/// A document without [sweep] yields itself as the only run. Throws ConfigError naming the line
/// of a malformed axis.
std::vector<SweepRun> expand_sweep(const ConfigDocument& document);

/// @return the positions of the runs in shard `index` of `count` among `runs` runs (positions i
/// with i % count == index), so independent jobs (a local pool, a Slurm array) split a sweep.
/// Throws UsageError unless 0 <= index < count.
std::vector<size_t> shard_positions(size_t runs, int index, int count);

}  // namespace guidance
