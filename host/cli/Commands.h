#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace guidance::cli {

/// Runs the subcommand named by args[0] (or a global flag).
/// @return the exit code: 0 success, 2 usage or config error, 1 runtime failure. Usage and
/// config errors may also be thrown as UsageError / ConfigError.
int dispatch(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace guidance::cli
