#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "host/study/RunSelection.h"

namespace guidance {

/// How `--jobs` starts its children.
struct JobOptions {
  int jobs = 1;                          ///< runs trained at once
  int64_t threads = -1;                  ///< threads per run; -1 = cores / jobs (at least 1)
  bool restart = false;                  ///< children start over instead of resuming
  bool quiet = false;                    ///< no progress lines (failures are still reported)
  std::vector<std::string> plugin_dirs;  ///< the global --plugin-dir options, passed on
};

/// Trains the runs of `study` in up to `jobs` child processes at once: each child is this
/// program (/proc/self/exe) with `run CONFIG --run-index K --resume --threads T
/// --concurrent-runs J --progress-fd 3` (J: the children at once, who share the memory), its
/// stdout and stderr appended to `<run dir>/log.txt`. Done runs are skipped (unless
/// restart); a failed run is reported with its log and the others go on; SIGINT/SIGTERM is
/// passed to the children, which save checkpoints, and waited for. Progress goes to `err`: on a
/// terminal one redrawn line per job and a study line, otherwise a line per event.
/// @return 0 when every run is done, 130 when stopped, 1 when a run failed or was busy
int run_study_jobs(const SelectedRuns& study, const JobOptions& options, std::ostream& out,
                   std::ostream& err);

}  // namespace guidance
