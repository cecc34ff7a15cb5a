#pragma once

#include <string>

#include "tests/support/TestSupport.h"

namespace guidance::testing {

/// Runs `guidance --plugin-dir FOLDER ARGUMENTS` with the plugin probe cache in `cache_home`
/// (XDG_CACHE_HOME), so a test sees its own probes and leaves the user's cache alone.
inline CommandResult run_cli_with_plugins(const std::string& folder, const std::string& arguments,
                                          const std::string& cache_home) {
  return run_command("XDG_CACHE_HOME='" + cache_home + "' '" + cli_path() + "' --plugin-dir '" +
                     folder + "' " + arguments);
}

}  // namespace guidance::testing
