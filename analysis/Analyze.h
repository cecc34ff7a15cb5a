#pragma once

#include <functional>
#include <iosfwd>

#include "host/plugins/PluginCatalog.h"

namespace CLI {
class App;
}  // namespace CLI

namespace guidance {

/// Declares `analyze` and its commands (report, compare, consistency, export) with their options
/// on `parent`; run_command_line() runs the one given.
/// @param load_plugins called by the commands that need plugins (compare's --metric)
void add_analyze_command(CLI::App& parent, std::function<PluginCatalog()> load_plugins,
                         std::ostream& out, std::ostream& err);

}  // namespace guidance
