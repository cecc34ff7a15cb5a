#include "host/study/Slurm.h"

#include <sstream>

#include "host/common/Errors.h"
#include "host/common/TextFormat.h"

namespace guidance {

std::string slurm_script(const SlurmRequest& request) {
  std::vector<const std::string*> texts = {&request.binary, &request.config, &request.partition,
                                           &request.time, &request.job_name};
  for (const auto& argument : request.overrides) texts.push_back(&argument);
  for (const std::string* text : texts) {
    if (text->find_first_of("\n\r") != std::string::npos) {
      throw UsageError("--emit-slurm: '" + *text + "' contains a line break");
    }
  }
  std::ostringstream script;
  script << "#!/bin/bash\n"
         << "# Slurm array job for " << request.config << ":\n"
         << "# " << request.runs << (request.runs == 1 ? " run" : " runs") << " in "
         << request.tasks << (request.tasks == 1 ? " task" : " tasks")
         << "; task I trains the runs i with i % " << request.tasks << " == I.\n"
         << "# Written by 'guidance run --emit-slurm'. Submit with: sbatch THIS_FILE\n"
         << "# Every task resumes what an earlier attempt left, so resubmitting finishes a study.\n"
         << "#SBATCH --job-name=" << request.job_name << "\n"
         << "#SBATCH --array=0-" << (request.tasks - 1) << "\n";
  if (!request.partition.empty()) script << "#SBATCH --partition=" << request.partition << "\n";
  if (!request.time.empty()) script << "#SBATCH --time=" << request.time << "\n";
  if (request.cpus > 0) script << "#SBATCH --cpus-per-task=" << request.cpus << "\n";
  if (request.gpus > 0) script << "#SBATCH --gpus=" << request.gpus << "\n";
  script << "set -euo pipefail\nexec " << shell_quote(request.binary);
  for (const auto& dir : request.plugin_dirs) script << " --plugin-dir " << shell_quote(dir);
  script << " run " << shell_quote(request.config);
  for (const auto& argument : request.overrides) script << " " << shell_quote(argument);
  script << " --shard slurm --resume";
  if (request.cpus > 0) script << " --threads " << request.cpus;
  script << "\n";
  return script.str();
}

}  // namespace guidance
