#pragma once

#include <memory>
#include <string>

#include "host/config/Config.h"
#include "host/distributed/Collective.h"
#include "host/distributed/Launch.h"

namespace guidance {

/// Joins the job's c10d process group: rank 0 serves a TCPStore at launch.address:launch.port,
/// every rank connects to it and the backend (Gloo; NCCL where LibTorch has it) connects the
/// ranks to each other. Gloo binds to the loopback interface when the address is a loopback one,
/// to $GLOO_SOCKET_IFNAME when set, else to the address this host's name resolves to.
/// @param device `run.device`, which picks the backend when settings.backend is Auto
/// @return the group, whose operations wait at most settings.timeout seconds
/// Throws RunError naming the address and port tried, the rank and the reason when the
/// rendezvous fails or does not complete within settings.timeout seconds, and when the backend
/// is not available in this LibTorch.
std::shared_ptr<Collective> join_process_group(const Launch& launch,
                                               const DistributedSection& settings,
                                               const std::string& device);

}  // namespace guidance
