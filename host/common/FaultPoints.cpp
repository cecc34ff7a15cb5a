#include "host/common/FaultPoints.h"

#include <csignal>
#include <cstdlib>

namespace guidance {

namespace {

const char* variable(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : nullptr;
}

}  // namespace

bool stop_point_reached(int64_t step) {
  static const char* text = variable("GUIDANCE_STOP_AT_STEP");
  return text != nullptr && step >= std::strtoll(text, nullptr, 10);
}

void kill_point(const std::string& point) {
  static const char* target = variable("GUIDANCE_KILL_AT");
  if (target != nullptr && point == target) std::raise(SIGKILL);
}

}  // namespace guidance
