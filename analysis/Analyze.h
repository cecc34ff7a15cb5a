#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "host/plugins/PluginCatalog.h"

namespace guidance {

/// Entry point of `guidance analyze ARGS...`.
/// @return the process exit code (0 success, 2 usage error, 1 runtime failure).
int analyze_main(const std::vector<std::string>& args, const PluginCatalog& catalog,
                 std::ostream& out, std::ostream& err);

}  // namespace guidance
