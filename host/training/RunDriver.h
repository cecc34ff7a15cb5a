#pragma once

#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "host/config/Config.h"
#include "host/plugins/PluginCatalog.h"

namespace guidance {

/// How `guidance run` was asked to behave.
struct RunOptions {
  bool resume = false;      ///< continue from the run's checkpoint
  bool restart = false;     ///< discard the run's earlier record and checkpoints first
  bool quiet = false;       ///< no progress output
  int64_t threads = -1;     ///< --threads; -1 = use the config's
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
/// throws RunBusyError (nothing changed) when another process holds it.
RunSummary run_config(const Config& config, const PluginCatalog& catalog,
                      const RunOptions& options, std::ostream& log);

}  // namespace guidance
