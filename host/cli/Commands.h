#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace guidance::cli {

/// Runs `guidance ARGS...` (args without the program name): parses the command line, runs the
/// command, reports errors on `err`.
/// @return the exit code: 0 success, 2 usage or config error (also for no arguments, after the
/// help), 1 runtime failure, 130 interrupted (resumable)
int run_guidance(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace guidance::cli
