#pragma once

#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "host/config/Config.h"
#include "host/plugins/PluginCatalog.h"
#include "host/sweep/Sweep.h"

namespace guidance {

/// The runs `guidance run` trains: the config's sweep and the selected runs, expanded and
/// validated (docs/studies.md).
struct SelectedRuns {
  std::string config_path;      ///< the CONFIG argument, as given
  Sweep sweep;                  ///< every run of the config, expanded on demand
  std::vector<SweepRun> runs;   ///< the selected runs, in expansion order
  std::vector<Config> configs;  ///< parallel to runs, validated
};

/// Expands the runs at `positions` of `sweep` one at a time, in order, validates each and calls
/// `visit` with it before the next is expanded; nothing is kept, so memory does not grow with the
/// sweep. A config error (ConfigError) ends it at the first run that has one: an error of the
/// base document, which every run shares, is reported by the first run before any other is
/// expanded.
void for_each_run(const Sweep& sweep, const std::vector<size_t>& positions,
                  const PluginCatalog& catalog,
                  const std::function<void(SweepRun& run, Config& config)>& visit);

/// @return the study of the runs at `positions` of `sweep`, each expanded and validated (see
/// for_each_run); the other runs are not expanded.
SelectedRuns select_runs(const std::string& config_path, const Sweep& sweep,
                   const std::vector<size_t>& positions, const PluginCatalog& catalog);

/// How far a run has come, from the files in its directory.
enum class RunState {
  New,      ///< neither record nor checkpoint
  Partial,  ///< a record that is not completed (running, interrupted, failed, killed) or a checkpoint
  Done,     ///< run.h5 whose provenance state is "completed"
};

/// @return "new", "partial" or "done".
std::string to_string(RunState state);

/// @return the state of the run whose folder is `run_directory`; reads at most the record's
/// provenance state (an unreadable record, e.g. one being created, counts as partial).
RunState run_state(const std::string& run_directory);

/// Prints the runs at `positions` of `sweep` (name, state, the settings that differ between runs)
/// and a count per state, loading no data. Each run is expanded and validated as it is printed
/// (for_each_run). @param config_path names the config in the last line. @return 0
int list_study(const std::string& config_path, const Sweep& sweep,
               const std::vector<size_t>& positions, const PluginCatalog& catalog,
               std::ostream& out);

/// @return `CONFIG [overrides]` of the selection as a command line gives them again (shell-quoted),
/// for "continue with" messages.
std::string config_arguments(const SelectedRuns& selection);

}  // namespace guidance
