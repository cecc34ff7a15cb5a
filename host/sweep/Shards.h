#pragma once

#include <cstddef>
#include <functional>
#include <vector>

namespace guidance {

/// @return the positions of the runs in shard `index` of `count` among `runs` runs (positions i
/// with i % count == index), so independent jobs (a local pool, a Slurm array) split a sweep.
/// Throws UsageError unless 0 <= index < count.
std::vector<size_t> shard_positions(size_t runs, int index, int count);

/// A shard as `--shard I/N` names it.
struct Shard {
  int index = 0;
  int count = 1;
};

/// Reads the shard of a Slurm array task: index (SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN) /
/// SLURM_ARRAY_TASK_STEP (step 1 when unset) of count SLURM_ARRAY_TASK_COUNT.
/// @param environment looks a variable up (std::getenv), nullptr when unset
/// Throws UsageError naming the variable that is missing or not a valid number.
Shard slurm_shard(const std::function<const char*(const char*)>& environment);

}  // namespace guidance
