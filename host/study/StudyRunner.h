#pragma once

#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "host/config/Config.h"
#include "host/plugins/PluginCatalog.h"
#include "host/sweep/Sweep.h"
#include "host/training/RunDriver.h"

namespace guidance {

/// The runs `guidance run` trains: the config's sweep and the selected runs, expanded and
/// validated (docs/studies.md).
struct Study {
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
Study select_study(const std::string& config_path, const Sweep& sweep,
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

/// Trains the runs of `study` one after another in this process. Before each run its
/// sweep-cell.toml is written. A run another process holds (RunBusyError) is reported and
/// skipped; a stop (Ctrl-C, SIGTERM) ends the sweep at that run.
/// @param progress_fd when >= 0, `step S T` lines and `busy <message>` go to this descriptor
/// (how a --jobs parent follows its children)
/// @return 0 when every run finished, 130 when stopped, 1 when a run was busy
int run_study_here(const Study& study, const PluginCatalog& catalog, RunOptions options,
                   int progress_fd, std::ostream& out, std::ostream& err);

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
int run_study_jobs(const Study& study, const JobOptions& options, std::ostream& out,
                   std::ostream& err);

/// What `--emit-slurm` writes into the script.
struct SlurmRequest {
  std::string binary;                    ///< absolute path of the guidance program
  std::string config;                    ///< absolute path of the config
  std::vector<std::string> overrides;    ///< ConfigOverrides::arguments() after the config
  std::vector<std::string> plugin_dirs;  ///< absolute --plugin-dir folders
  std::string job_name;
  size_t runs = 1;                       ///< runs in the sweep
  size_t tasks = 1;                      ///< array tasks (shards)
  std::string partition;                 ///< empty: the cluster's default
  std::string time;                      ///< empty: the partition's default
  int cpus = 0;                          ///< 0: not requested (then no --threads either)
  int gpus = 0;                          ///< 0: not requested
};

/// @return a bash sbatch script of an array job `--array=0-(tasks-1)` whose task i runs
/// `guidance run CONFIG --shard slurm --resume`. Throws UsageError for values that cannot go
/// into a script (line breaks).
std::string slurm_script(const SlurmRequest& request);

/// Prints the final train/test figures of `summaries`, one row per run.
void print_comparison(const std::vector<RunSummary>& summaries, std::ostream& out);

}  // namespace guidance
