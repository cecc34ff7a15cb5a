#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace guidance {

/// Where this process stands in a job of several processes, as its launcher says.
struct Launch {
  int rank = 0;            ///< 0 .. world_size - 1; rank 0 writes the record and checkpoints
  int local_rank = 0;      ///< rank among the processes of this node (selects a CUDA device)
  int world_size = 1;
  std::string address;     ///< rank 0's host: where the rendezvous store listens
  uint16_t port = 0;       ///< the rendezvous store's port
  std::string source;      ///< which variables said so: "torchrun" or "slurm"
  /// torchrun's agent already serves the store at address:port (TORCHELASTIC_USE_AGENT_STORE):
  /// every rank connects to it as a client.
  bool agent_store = false;
  std::string store_prefix = "guidance";  ///< keys of this attempt (torchrun restarts count up)

  /// @return "address:port", as errors name the rendezvous.
  std::string endpoint() const { return address + ":" + std::to_string(port); }
};

/// The rendezvous port when neither MASTER_PORT nor a launcher gives one (torchrun's default).
inline constexpr uint16_t kDefaultRendezvousPort = 29500;

/// Reads the launch of a job of several processes from the environment: `torchrun`'s variables
/// (WORLD_SIZE > 1 with RANK, LOCAL_RANK, MASTER_ADDR, MASTER_PORT), else Slurm's (SLURM_NTASKS
/// > 1 with SLURM_PROCID, SLURM_LOCALID; the address is MASTER_ADDR or the first host of
/// SLURM_JOB_NODELIST, the port MASTER_PORT or kDefaultRendezvousPort). Under torchrun's agent
/// (TORCHELASTIC_USE_AGENT_STORE=True) the store is the agent's, and its keys are prefixed by
/// the attempt (TORCHELASTIC_RESTART_COUNT).
/// @param variable the environment (std::getenv; tests pass a map), nullptr for an unset name
/// @return nothing for a run of one process; throws UsageError naming the variable and its value
///         when one is missing, not a number or out of range
std::optional<Launch> launch_from_environment(
    const std::function<const char*(const char*)>& variable);

/// @return the first host of a Slurm host list: "node[03-05,9],gpu1" gives "node03".
std::string first_slurm_host(const std::string& node_list);

}  // namespace guidance
