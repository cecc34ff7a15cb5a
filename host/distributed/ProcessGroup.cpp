#include "host/distributed/ProcessGroup.h"

#include <cstdlib>

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "host/common/Errors.h"

namespace guidance {

namespace {

/// @return an error's message without the C++ backtrace LibTorch appends to its own.
std::string reason(const std::exception& error) {
  if (const auto* torch_error = dynamic_cast<const c10::Error*>(&error)) {
    return torch_error->what_without_backtrace();
  }
  return error.what();
}

class GlooCollective : public Collective {
 public:
  GlooCollective(c10::intrusive_ptr<c10d::Store> store,
                 c10::intrusive_ptr<c10d::ProcessGroupGloo> group, const Launch& launch)
      : store_(std::move(store)), group_(std::move(group)), launch_(launch) {}

  int rank() const override { return launch_.rank; }
  int world_size() const override { return launch_.world_size; }

  void all_reduce_sum(std::vector<torch::Tensor>& tensors, const std::string& what) override {
    each_tensor(tensors, what,
                [&](std::vector<torch::Tensor>& one) { return group_->allreduce(one); });
  }

  torch::Tensor all_gather(const torch::Tensor& local, const std::string& what) override {
    std::vector<torch::Tensor> input{local.contiguous()};
    std::vector<std::vector<torch::Tensor>> output(1);
    for (int r = 0; r < launch_.world_size; ++r) output[0].push_back(torch::empty_like(input[0]));
    wait(call(what, [&] { return group_->allgather(output, input); }), what);
    return torch::cat(output[0]);
  }

  void broadcast(std::vector<torch::Tensor>& tensors, const std::string& what) override {
    each_tensor(tensors, what,
                [&](std::vector<torch::Tensor>& one) { return group_->broadcast(one); });
  }

 private:
  // Gloo reads several tensors of one call as copies of one buffer (one per device), so each
  // tensor is its own operation; they all start before the first wait.
  template <typename Start>
  void each_tensor(std::vector<torch::Tensor>& tensors, const std::string& what, Start start) {
    std::vector<c10::intrusive_ptr<c10d::Work>> works;
    for (auto& tensor : tensors) {
      std::vector<torch::Tensor> one{tensor};
      works.push_back(call(what, [&] { return start(one); }));
    }
    for (auto& work : works) wait(work, what);
  }

  [[noreturn]] void fail(const std::string& what, const std::exception& error) const {
    throw RunError("distributed run, rank " + std::to_string(launch_.rank) + " of " +
                   std::to_string(launch_.world_size) + ": the " + what +
                   " failed (another rank has stopped, or did not answer within "
                   "run.distributed.timeout): " + reason(error));
  }

  template <typename Start>
  c10::intrusive_ptr<c10d::Work> call(const std::string& what, Start start) const {
    try {
      return start();
    } catch (const std::exception& error) {
      fail(what, error);
    }
  }

  void wait(const c10::intrusive_ptr<c10d::Work>& work, const std::string& what) const {
    try {
      work->wait();
    } catch (const std::exception& error) {
      fail(what, error);
    }
  }

  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group_;
  Launch launch_;
};

bool is_loopback(const std::string& address) {
  return address == "localhost" || address == "::1" || address.rfind("127.", 0) == 0;
}

std::shared_ptr<::gloo::transport::Device> gloo_device(const Launch& launch) {
  if (is_loopback(launch.address)) {
    return c10d::ProcessGroupGloo::createDeviceForHostname(launch.address);
  }
  if (const char* interface = std::getenv("GLOO_SOCKET_IFNAME"); interface && *interface) {
    return c10d::ProcessGroupGloo::createDeviceForInterface(interface);
  }
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

}  // namespace

std::shared_ptr<Collective> join_process_group(const Launch& launch,
                                               const DistributedSection& settings,
                                               const std::string& device) {
  const std::string where = "rank " + std::to_string(launch.rank) + " of " +
                            std::to_string(launch.world_size) + " (" + launch.source +
                            " variables)";
  DistributedBackend backend = settings.backend;
  if (backend == DistributedBackend::Auto) {
    backend = device.rfind("cuda", 0) == 0 ? DistributedBackend::Nccl : DistributedBackend::Gloo;
  }
  if (backend == DistributedBackend::Nccl) {
    throw RunError(where + ": run.distributed.backend resolves to \"nccl\" (run.device = \"" +
                   device + "\"), but this LibTorch was built without NCCL; set "
                   "run.distributed.backend = \"gloo\" or use a CUDA build of LibTorch");
  }
  const std::chrono::milliseconds timeout(settings.timeout * 1000);
  c10::intrusive_ptr<c10d::Store> store;
  try {
    c10d::TCPStoreOptions options;
    options.port = launch.port;
    options.isServer = launch.rank == 0 && !launch.agent_store;
    options.numWorkers = static_cast<size_t>(launch.world_size);
    options.waitWorkers = true;
    options.timeout = timeout;
    store = c10::make_intrusive<c10d::PrefixStore>(
        launch.store_prefix, c10::make_intrusive<c10d::TCPStore>(launch.address, options));
  } catch (const std::exception& error) {
    throw RunError(where + ": no rendezvous at " + launch.endpoint() + " within " +
                   std::to_string(settings.timeout) + " s (run.distributed.timeout): " +
                   reason(error) + "; check MASTER_ADDR and MASTER_PORT, that rank 0 is running, "
                   "and that the port is free on rank 0's host");
  }
  try {
    auto options = c10d::ProcessGroupGloo::Options::create(timeout);
    options->devices.push_back(gloo_device(launch));
    options->threads = 2;
    auto group = c10::make_intrusive<c10d::ProcessGroupGloo>(store, launch.rank,
                                                             launch.world_size, options);
    return std::make_shared<GlooCollective>(store, group, launch);
  } catch (const std::exception& error) {
    throw RunError(where + ": the Gloo process group (rendezvous at " + launch.endpoint() +
                   ") could not connect the ranks within " + std::to_string(settings.timeout) +
                   " s (run.distributed.timeout; are all " + std::to_string(launch.world_size) +
                   " processes started?): " + reason(error));
  }
}

}  // namespace guidance
