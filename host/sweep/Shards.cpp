#include "host/sweep/Shards.h"

#include <cerrno>
#include <cstdlib>
#include <optional>
#include <string>

#include "host/common/Errors.h"

namespace guidance {

std::vector<size_t> shard_positions(size_t runs, int index, int count) {
  if (count < 1 || index < 0 || index >= count) {
    throw UsageError("shard " + std::to_string(index) + "/" + std::to_string(count) +
                     " is invalid: use --shard I/N with 0 <= I < N");
  }
  std::vector<size_t> positions;
  for (size_t i = static_cast<size_t>(index); i < runs; i += static_cast<size_t>(count)) {
    positions.push_back(i);
  }
  return positions;
}

Shard slurm_shard(const std::function<const char*(const char*)>& environment) {
  auto number = [&](const char* name, std::optional<long long> fallback) -> long long {
    const char* text = environment(name);
    if (text == nullptr || *text == '\0') {
      if (fallback) return *fallback;
      throw UsageError(std::string("--shard slurm needs the environment variable ") + name +
                       " (set by Slurm in an array job: sbatch --array=...)");
    }
    errno = 0;
    char* end = nullptr;
    long long value = std::strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value < 0 || value > 1000000000) {
      throw UsageError(std::string("--shard slurm: ") + name + "='" + text +
                       "' is not a non-negative integer");
    }
    return value;
  };
  long long id = number("SLURM_ARRAY_TASK_ID", std::nullopt);
  long long count = number("SLURM_ARRAY_TASK_COUNT", std::nullopt);
  long long min = number("SLURM_ARRAY_TASK_MIN", std::nullopt);
  long long step = number("SLURM_ARRAY_TASK_STEP", 1);
  if (count < 1 || step < 1) {
    throw UsageError("--shard slurm: SLURM_ARRAY_TASK_COUNT and SLURM_ARRAY_TASK_STEP must be at "
                     "least 1");
  }
  if (id < min || (id - min) % step != 0 || (id - min) / step >= count) {
    throw UsageError("--shard slurm: SLURM_ARRAY_TASK_ID=" + std::to_string(id) +
                     " is not among the " + std::to_string(count) + " tasks from " +
                     "SLURM_ARRAY_TASK_MIN=" + std::to_string(min) + " in steps of " +
                     std::to_string(step));
  }
  return {static_cast<int>((id - min) / step), static_cast<int>(count)};
}

}  // namespace guidance
