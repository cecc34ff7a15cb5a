#include "host/distributed/Launch.h"

#include <limits>

#include "host/common/Errors.h"

namespace guidance {

namespace {

/// Reads one integer variable; `fallback` when unset (nullopt: required).
int64_t integer_variable(const std::function<const char*(const char*)>& variable, const char* name,
                         std::optional<int64_t> fallback, int64_t low, int64_t high) {
  const char* text = variable(name);
  if (text == nullptr || *text == '\0') {
    if (fallback) return *fallback;
    throw UsageError(std::string("the environment of a distributed launch has no ") + name +
                     " (docs/distributed.md lists what each launcher sets)");
  }
  size_t used = 0;
  int64_t value = 0;
  try {
    value = std::stoll(text, &used);
  } catch (const std::logic_error&) {
    used = 0;
  }
  if (used == 0 || text[used] != '\0' || value < low || value > high) {
    throw UsageError(std::string(name) + "='" + text + "' is not an integer in " +
                     std::to_string(low) + ".." + std::to_string(high));
  }
  return value;
}

}  // namespace

std::string first_slurm_host(const std::string& node_list) {
  std::string first;
  int depth = 0;
  for (char c : node_list) {
    if (c == ',' && depth == 0) break;
    if (c == '[') ++depth;
    if (c == ']') --depth;
    first += c;
  }
  size_t open = first.find('[');
  if (open == std::string::npos) return first;
  size_t close = first.find(']', open);
  std::string range = first.substr(open + 1, close - open - 1);
  std::string start = range.substr(0, range.find_first_of(",-"));
  std::string rest = close == std::string::npos ? "" : first.substr(close + 1);
  return first.substr(0, open) + start + rest;
}

std::optional<Launch> launch_from_environment(
    const std::function<const char*(const char*)>& variable) {
  constexpr int64_t kMaxWorld = 1 << 20;
  Launch launch;
  const char* address = variable("MASTER_ADDR");
  if (variable("WORLD_SIZE") != nullptr) {
    launch.world_size =
        static_cast<int>(integer_variable(variable, "WORLD_SIZE", {}, 1, kMaxWorld));
    if (launch.world_size == 1) return std::nullopt;
    launch.source = "torchrun";
    launch.rank =
        static_cast<int>(integer_variable(variable, "RANK", {}, 0, launch.world_size - 1));
    launch.local_rank =
        static_cast<int>(integer_variable(variable, "LOCAL_RANK", 0, 0, launch.world_size - 1));
    if (address == nullptr || *address == '\0') {
      throw UsageError("WORLD_SIZE=" + std::to_string(launch.world_size) +
                       " is set but MASTER_ADDR is not: rank 0's address is needed for the "
                       "rendezvous (docs/distributed.md)");
    }
    launch.address = address;
    const char* agent = variable("TORCHELASTIC_USE_AGENT_STORE");
    launch.agent_store = agent != nullptr && std::string(agent) == "True";
    const char* restarts = variable("TORCHELASTIC_RESTART_COUNT");
    if (restarts != nullptr) launch.store_prefix += "/" + std::string(restarts);
  } else if (variable("SLURM_NTASKS") != nullptr) {
    launch.world_size =
        static_cast<int>(integer_variable(variable, "SLURM_NTASKS", {}, 1, kMaxWorld));
    if (launch.world_size == 1) return std::nullopt;
    launch.source = "slurm";
    launch.rank =
        static_cast<int>(integer_variable(variable, "SLURM_PROCID", {}, 0, launch.world_size - 1));
    launch.local_rank =
        static_cast<int>(integer_variable(variable, "SLURM_LOCALID", 0, 0, launch.world_size - 1));
    if (address != nullptr && *address != '\0') {
      launch.address = address;
    } else {
      const char* nodes = variable("SLURM_JOB_NODELIST");
      if (nodes == nullptr) nodes = variable("SLURM_NODELIST");
      if (nodes == nullptr || *nodes == '\0') {
        throw UsageError("a Slurm launch of " + std::to_string(launch.world_size) +
                         " tasks needs MASTER_ADDR or SLURM_JOB_NODELIST for rank 0's address");
      }
      launch.address = first_slurm_host(nodes);
    }
  } else {
    return std::nullopt;
  }
  launch.port = static_cast<uint16_t>(integer_variable(
      variable, "MASTER_PORT", kDefaultRendezvousPort, 1, std::numeric_limits<uint16_t>::max()));
  return launch;
}

}  // namespace guidance
