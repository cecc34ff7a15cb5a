#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "host/config/Config.h"
#include "host/config/TomlWriter.h"

namespace guidance {

/// The most runs a [sweep] may expand into; a larger sweep is refused before it is expanded.
constexpr size_t kMaxSweepRuns = 100000;

/// The key path of the replicate axis: runs that differ only in it are replicates of one cell.
constexpr const char* kReplicateKey = "run.seed";

/// The first label of a declared baseline's run names: `<run.name>/baseline,seed=0`.
constexpr const char* kBaselineRunLabel = "baseline";

/// A sweep axis's setting in one run: the key path and the value, as one-line TOML text
/// (`8`, `"adam"`, `{ epochs = 2, plugin = "trained" }`), equal for equal values.
using SweepSetting = std::pair<std::string, std::string>;

/// One run of a sweep: its document with the axis values applied, and those values.
struct SweepRun {
  ConfigDocument document;
  std::string name;                   ///< run.name after expansion
  size_t index = 0;                   ///< position in expansion order (what shards split)
  /// A baseline run's: the baseline's keys, then the axes it crosses; any other run's: every axis
  /// key of the sweep, in crossing order.
  std::vector<SweepSetting> settings;
  /// Index in `settings` of `run.seed` when it is a sweep axis (the replicate axis).
  std::optional<size_t> replicate;
  uint64_t seed = 0;  ///< the run's run.seed (0 when the config leaves it out)

  /// @return settings without the replicate axis: the runs of one cell share it.
  std::vector<SweepSetting> cell() const;
};

/// A document's [sweep] table, read and checked once; its runs are expanded one at a time, so a
/// caller holds only the runs it needs (a `--jobs` child one, a shard its own).
///
/// Each [sweep] key is a quoted dotted key path of the config and its value a non-empty list;
/// the runs are the cross product of these axes. A table `[sweep.zip.<group>]` holds key paths
/// whose lists have one length and vary together: the group is one axis whose i-th value sets
/// every key to its i-th value.
///
///     [sweep]
///     "guidance.alpha" = [0.5, 1.0]
///     "run.seed" = [0, 1, 2]           # the replicate axis
///     [sweep.zip.guide]
///     "guidance.enabled" = [false, true, true]
///     "guide.init" = [{ plugin = "untrained" }, { plugin = "untrained" }, { plugin = "trained" }]
///
/// A table `[sweep.baseline]` declares the study's baseline once: its key paths and values make a
/// run the baseline (`"guidance.enabled" = false` for the unguided one). The baseline runs come
/// first, one per combination of the axes it does not ignore: an axis is ignored when the
/// baseline sets each of its keys, or turns guidance off and its keys are the guide's or
/// guidance's (unguided_run_ignores), so an unguided baseline runs once per seed and per other
/// setting, and summaries match it to every guided cell. Their names are
/// `<run.name>/baseline,<label>=<value>,...`.
///
///     [sweep.baseline]
///     "guidance.enabled" = false
///
/// Axes cross in the order the file lists them (the last varies fastest). Each run's name is
/// `<run.name>/<label>=<value>,...`, one `label=value` per key (the label is the key path's last
/// component unless two keys share it, a table value is named by its `plugin`, characters other
/// than letters, digits and `._+-` become `_`, values that name alike get `-<position>`; a suffix
/// longer than config_limits::kMaxRunNameComponentBytes is cut and ends in `-<8 hex digits>`, a
/// hash of the whole), so its record lands in a folder of its own under the sweep's folder. A
/// document without [sweep] is a sweep of one run, the document itself.
class Sweep {
 public:
  /// Reads `document`'s [sweep] table; expands no run.
  /// Throws ConfigError naming the line of a malformed axis, when `run.name` is missing, not a
  /// string or not a valid run name (run_name_problem), and when the sweep would make more than
  /// kMaxSweepRuns runs.
  explicit Sweep(const ConfigDocument& document);

  /// @return the number of runs: the product of the axis lengths, plus the baseline's runs
  size_t size() const;

  /// @return run.name before expansion: the study's folder (a document without [sweep]: its
  /// run.name, or "" when it has none)
  const std::string& study() const;

  /// @return the name of run `index`, without expanding it
  std::string name(size_t index) const;

  /// @return the swept key paths whose value is not the same in every run
  std::set<std::string> varying() const;

  /// @return the command line's overrides of the config, which every run applies
  const ConfigOverrides& overrides() const;

  /// @return run `index` (0 <= index < size()) expanded alone: equal to the `index`-th run of
  /// expand_sweep(). Throws ConfigError when a value cannot be set (a key path through a value
  /// that is not a table) and std::out_of_range for an index past the end.
  SweepRun run(size_t index) const;

 private:
  struct Plan;
  std::shared_ptr<const Plan> plan_;
};

/// @return every run of `document`'s sweep, in expansion order (Sweep(document).run(i) for each
/// i). Throws ConfigError as Sweep and Sweep::run do.
std::vector<SweepRun> expand_sweep(const ConfigDocument& document);

}  // namespace guidance
