#include "host/common/StopSignal.h"

#include <atomic>
#include <csignal>

namespace guidance {

namespace {

std::atomic<bool> stop_flag{false};

void request_stop(int) { stop_flag.store(true); }

}  // namespace

bool stop_requested() { return stop_flag.load(); }

void install_stop_handlers() {
  std::signal(SIGINT, request_stop);
  std::signal(SIGTERM, request_stop);
}

}  // namespace guidance
