#pragma once

// For tests that link guidance-cli: the CLI's commands run in the test's own process, quicker
// than run_cli() and with the same parsing, output and exit codes.
#include <sstream>
#include <string>
#include <vector>

#include "host/cli/Commands.h"
#include "tests/support/TestSupport.h"

namespace guidance::testing {

/// Runs `guidance ARGS...` in this process.
inline CommandResult run_guidance_here(const std::vector<std::string>& args) {
  std::ostringstream out, err;
  int code = cli::run_guidance(args, out, err);
  return {code, out.str(), err.str()};
}

}  // namespace guidance::testing
