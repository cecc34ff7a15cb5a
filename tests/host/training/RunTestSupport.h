#pragma once
// What the run-level tests share: a small guided parity config and child-process helpers.

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tests/support/TestSupport.h"

namespace guidance::testing {

/// A small guided parity run: RNN target, transformer guide, a few hundred steps.
inline std::string parity_config(const std::string& output, const std::string& init = "untrained",
                          int64_t steps = 60) {
  return R"([run]
name = "parity-small"
seed = 11
threads = 1
output = ")" + output + R"("
checkpoint_every = 10
log_every = 10

[dataset]
plugin = "parity"
train_size = 512
validation_size = 64
test_size = 64
max_length = 10

[target]
plugin = "rnn"
hidden = 16

[guide]
plugin = "transformer"
width = 16

[guide.init]
plugin = ")" + init + R"("
)" + (init == "trained" ? "max_steps = 8\nbatch_size = 32\n" : "") + R"(
[guidance]
alpha = 0.5

[train]
batch_size = 32
max_steps = )" + std::to_string(steps) + R"(
learning_rate = 0.003

[record]
every = 20
probe_size = 32
)";
}

/// The comparison table `guidance run` prints: the run's final figures.
inline std::string final_table(const CommandResult& result) {
  size_t at = result.out.find("run ");
  return at == std::string::npos ? result.out : result.out.substr(at);
}

/// Starts the CLI in the background, with `environment` (name, value) added to ours; @return its
/// pid.
inline pid_t spawn_cli(const std::vector<std::string>& args, const std::string& log,
                       const std::vector<std::pair<std::string, std::string>>& environment = {}) {
  // The log exists before the child runs, so a caller polling it never finds it missing.
  std::ofstream(log, std::ios::trunc).close();
  pid_t pid = fork();
  if (pid == 0) {
    for (const auto& [name, value] : environment) setenv(name.c_str(), value.c_str(), 1);
    FILE* out = freopen(log.c_str(), "a", stderr);
    (void)out;
    FILE* null = freopen("/dev/null", "w", stdout);
    (void)null;
    std::vector<char*> argv;
    std::string cli = cli_path();
    argv.push_back(cli.data());
    std::vector<std::string> copies = args;
    for (auto& arg : copies) argv.push_back(arg.data());
    argv.push_back(nullptr);
    execv(cli.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}

/// Waits until `path` exists (or the process ends); @return whether it appeared in time.
inline bool wait_for_file(const std::string& path, pid_t pid) {
  for (int i = 0; i < 1200; ++i) {
    if (std::filesystem::exists(path)) return true;
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) return std::filesystem::exists(path);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

inline int wait_exit_code(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace guidance::testing
