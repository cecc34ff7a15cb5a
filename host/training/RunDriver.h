#pragma once

#include <functional>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "host/config/Config.h"
#include "host/distributed/Collective.h"
#include "host/plugins/PluginCatalog.h"

namespace guidance {

/// How `guidance run` was asked to behave.
struct RunOptions {
  bool resume = false;      ///< continue from the run's checkpoint
  bool restart = false;     ///< discard the run's earlier record and checkpoints first
  bool quiet = false;       ///< no progress output
  int64_t threads = -1;     ///< --threads; -1 = use the config's
  /// Called after every optimiser step with the steps done and the run's budget (e.g. to report
  /// progress to a parent process); may be empty.
  std::function<void(int64_t step, int64_t total_steps)> on_step;
  /// The ranks of a distributed run (docs/distributed.md); null: one process. Rank 0 alone
  /// takes the run directory's lock and writes the record, checkpoints and guide.
  std::shared_ptr<Collective> collective;
  /// Runs a study trains at once on this machine (--jobs), which share its memory.
  int64_t concurrent_runs = 1;
};

/// What a finished (or interrupted) run reports.
struct RunSummary {
  std::string name;
  std::string record_path;
  bool completed = false;                   ///< false: interrupted (a checkpoint was saved)
  int64_t steps = 0;
  std::map<std::string, double> train;      ///< train-subset measures of the best weights
  std::map<std::string, double> validation; ///< validation measures of the best weights
  std::map<std::string, double> test;       ///< test measures of the best validation checkpoint
  int64_t best_step = -1;                   ///< the step whose weights train/validation/test use
};

/// Runs one validated config end to end: assembles it, prepares the guide, trains, evaluates,
/// checkpoints and records. Progress goes to `log`. Holds the run directory's lock throughout:
/// throws RunBusyError (nothing changed) when another process holds it. In a distributed run
/// every rank calls it; rank 0 builds (or resumes) and every other rank receives its state.
RunSummary run_config(const Config& config, const PluginCatalog& catalog,
                      const RunOptions& options, std::ostream& log);

}  // namespace guidance
