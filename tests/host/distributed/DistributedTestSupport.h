#pragma once
// What the distributed tests share: a free loopback port and ranks run as threads.

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <exception>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "host/distributed/Launch.h"
#include "host/distributed/ProcessGroup.h"
#include "tests/support/TestSupport.h"

namespace guidance::testing {

/// @return a TCP port of 127.0.0.1 that was free a moment ago (bound to port 0, then released).
inline uint16_t free_port() {
  int socket_fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  EXPECT_EQ(::bind(socket_fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  EXPECT_EQ(::getsockname(socket_fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  ::close(socket_fd);
  return ntohs(address.sin_port);
}

/// Runs `body` on `world` threads, each a rank of one Gloo process group on the loopback
/// address; rethrows the first exception of any rank.
inline void run_ranks(int world, const std::function<void(Collective&)>& body) {
  const uint16_t port = free_port();
  std::vector<std::exception_ptr> errors(world);
  std::vector<std::thread> threads;
  for (int rank = 0; rank < world; ++rank) {
    threads.emplace_back([&, rank] {
      try {
        Launch launch{rank, rank, world, "127.0.0.1", port, "test", false, "test"};
        DistributedSection settings;
        settings.timeout = 60;
        std::shared_ptr<Collective> collective = join_process_group(launch, settings, "cpu");
        body(*collective);
      } catch (...) {
        errors[rank] = std::current_exception();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (const auto& error : errors) {
    if (error) std::rethrow_exception(error);
  }
}

}  // namespace guidance::testing
