#pragma once

#include <string>

namespace guidance {

/// Writes `bytes` to `path` so that a crash or kill at any instant leaves the old file or the new
/// one, never half of either: through a temporary file `<path>.partial.<pid>` in the same folder
/// (unique per process: sweep shards may write one file at once), synced, renamed into place,
/// and the folder synced so that the rename survives a power loss. Creates missing folders.
/// Throws RunError naming the path and the reason (e.g. no space left on device); the temporary
/// file is removed and the previous file, if any, is unchanged.
void write_file_atomically(const std::string& path, const std::string& bytes);

}  // namespace guidance
