#pragma once

#include <ostream>
#include <vector>

#include "host/plugins/PluginCatalog.h"
#include "host/study/RunSelection.h"
#include "host/training/RunDriver.h"

namespace guidance {

/// Trains the runs of `study` one after another in this process. Before each run its
/// sweep-cell.toml is written. A run another process holds (RunBusyError) is reported and
/// skipped; a stop (Ctrl-C, SIGTERM) ends the sweep at that run.
/// @param progress_fd when >= 0, `step S T` lines and `busy <message>` go to this descriptor
/// (how a --jobs parent follows its children)
/// @return 0 when every run finished, 130 when stopped, 1 when a run was busy
int run_study_here(const SelectedRuns& study, const PluginCatalog& catalog, RunOptions options,
                   int progress_fd, std::ostream& out, std::ostream& err);

/// Prints the final train/test figures of `summaries`, one row per run.
void print_comparison(const std::vector<RunSummary>& summaries, std::ostream& out);

}  // namespace guidance
