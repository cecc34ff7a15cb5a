#pragma once

#include <string>
#include <vector>

namespace guidance {

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

}  // namespace guidance
