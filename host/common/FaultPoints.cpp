#include "host/common/FaultPoints.h"

#include <csignal>
#include <cstdlib>
#include <string>

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

void evaluation_batch_point() {
  static const char* target = variable("GUIDANCE_SIGNAL_AT");
  static int64_t batches = 0;
  ++batches;
  if (target != nullptr && std::string(target) == "evaluation:" + std::to_string(batches)) {
    std::raise(SIGINT);
  }
}

}  // namespace guidance
