#include "analysis/Analyze.h"

#include <ostream>

namespace guidance {

int analyze_main(const std::vector<std::string>& /*args*/, const PluginCatalog& /*catalog*/,
                 std::ostream& /*out*/, std::ostream& err) {
  err << "guidance analyze: not available yet\n";
  return 1;
}

}  // namespace guidance
