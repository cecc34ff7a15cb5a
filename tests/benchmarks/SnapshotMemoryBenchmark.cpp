// Peak memory of writing one snapshot, streamed (what `guidance run` does) against holding every
// activation of both networks at once (what a snapshot needed before streaming), with the same
// batches and similarity budget. Each mode runs in
// a child process, whose peak resident set (wait4's ru_maxrss) is reported, beside a child that
// only loads the plugins and creates the record.
//
//   bench-snapshot-memory [--examples N] [--taps K] [--features F] [--batch B] [--budget-mb M]
//
// Defaults: 256 probes, 4 taps of 50 000 features per network (≈ 51 MB per tap as float32,
// 410 MB for both networks), batches of 32, a 64 MiB similarity budget, linear CKA.

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <map>
#include <string>

#include <CLI/CLI.hpp>
#include <torch/torch.h>

#include "host/common/CommandLine.h"
#include "host/common/Errors.h"
#include "host/recording/RunRecord.h"
#include "tests/support/TestSupport.h"

namespace {

using guidance::RecordLayout;
using guidance::RunRecord;
using guidance::SnapshotSource;

struct Sizes {
  int64_t examples = 256;
  int64_t taps = 4;
  int64_t features = 50000;
  int64_t batch = 32;
  int64_t budget_mb = 64;
};

/// A tap's activations on probe rows [begin, end): the same values whichever batches ask.
torch::Tensor activation_rows(const std::string& side, int64_t tap, int64_t begin, int64_t end,
                              int64_t features) {
  torch::Tensor rows = torch::empty({end - begin, features});
  for (int64_t row = begin; row < end; ++row) {
    torch::manual_seed(static_cast<uint64_t>((side == "guide" ? 1 : 2) * 1000003 + tap * 10007 + row));
    rows[row - begin] = torch::relu(torch::randn({features}));
  }
  return rows;
}

/// Writes one snapshot in the given mode: "record-only", "streamed" or "all-in-memory".
void write_snapshot(const std::string& mode, const Sizes& sizes, const std::string& path) {
  RecordLayout layout;
  for (int64_t tap = 0; tap < sizes.taps; ++tap) {
    layout.guide_taps.push_back("g" + std::to_string(tap));
    layout.target_taps.push_back("t" + std::to_string(tap));
  }
  layout.metrics = {"linear-cka"};
  auto plugin = guidance::testing::built_plugins().metric("linear-cka");
  std::vector<std::shared_ptr<guidance::Metric>> metrics = {
      plugin->create(guidance::defaults_of(plugin->info().params))};
  auto record = RunRecord::create(path, guidance::Provenance{}, layout);
  if (mode == "record-only") return;
  // all-in-memory holds every activation of both networks first, as a snapshot did before it
  // streamed; both modes then write through the same batches and similarity budget.
  std::map<std::string, std::vector<torch::Tensor>> all;
  if (mode == "all-in-memory") {
    for (const std::string side : {"guide", "target"}) {
      for (int64_t tap = 0; tap < sizes.taps; ++tap) {
        all[side].push_back(activation_rows(side, tap, 0, sizes.examples, sizes.features));
      }
    }
  }
  SnapshotSource source;
  source.examples = sizes.examples;
  source.batch_size = sizes.batch;
  source.similarity_memory_bytes = static_cast<uint64_t>(sizes.budget_mb) << 20;
  source.activations = [&](const std::string& side, int64_t begin, int64_t end) {
    std::vector<torch::Tensor> taps;
    for (int64_t tap = 0; tap < sizes.taps; ++tap) {
      taps.push_back(all.empty() ? activation_rows(side, tap, begin, end, sizes.features)
                                 : all[side][tap].narrow(0, begin, end - begin));
    }
    return taps;
  };
  record->write_snapshot(1, source, metrics);
  record->finish(guidance::RecordState::Completed, "2024-01-01T00:00:00Z");
}

/// @return the peak resident set of a child writing a snapshot in `mode`, in MiB.
double peak_mib(const std::string& mode, const Sizes& sizes, const std::string& directory) {
  std::cout.flush();
  pid_t pid = fork();
  if (pid == 0) {
    try {
      write_snapshot(mode, sizes, directory + "/" + mode + ".h5");
    } catch (const std::exception& error) {
      std::fprintf(stderr, "%s: %s\n", mode.c_str(), error.what());
      _exit(1);
    }
    _exit(0);
  }
  int status = 0;
  rusage usage{};
  wait4(pid, &status, 0, &usage);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw std::runtime_error(mode + " failed");
  }
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

}  // namespace

int main(int argc, char** argv) {
  Sizes sizes;
  CLI::App app("Peak memory of writing one snapshot, streamed vs all activations in memory.",
               "bench-snapshot-memory");
  guidance::use_workbench_conventions(app);
  app.option_defaults()->always_capture_default();
  app.add_option("--examples", sizes.examples, "probe examples")->check(guidance::at_least(1));
  app.add_option("--taps", sizes.taps, "taps per network")->check(guidance::at_least(1));
  app.add_option("--features", sizes.features, "features per tap")->check(guidance::at_least(1));
  app.add_option("--batch", sizes.batch, "examples per batch")->check(guidance::at_least(1));
  app.add_option("--budget-mb", sizes.budget_mb, "similarity budget, MiB")
      ->check(guidance::at_least(1));
  try {
    if (!guidance::parse_command_line(app, {argv + 1, argv + argc}, std::cout)) return 0;
  } catch (const guidance::UsageError& error) {
    std::cerr << error.what() << "\n";
    return 2;
  }
  torch::set_num_threads(1);
  guidance::testing::TemporaryDirectory directory;

  double activations_mib = 2.0 * static_cast<double>(sizes.examples * sizes.taps * sizes.features) *
                           4.0 / (1 << 20);
  std::cout << "snapshot: " << sizes.examples << " probes, 2 networks x " << sizes.taps
            << " taps x " << sizes.features << " features = " << activations_mib
            << " MiB of float32 activations; batch " << sizes.batch << ", similarity budget "
            << sizes.budget_mb << " MiB\n";
  double base = peak_mib("record-only", sizes, directory.path());
  double streamed = peak_mib("streamed", sizes, directory.path());
  double whole = peak_mib("all-in-memory", sizes, directory.path());
  std::cout << "peak RSS, MiB: record-only " << base << ", streamed " << streamed
            << ", all-in-memory " << whole << "\n"
            << "above record-only: streamed " << streamed - base << ", all-in-memory "
            << whole - base << " (ratio " << (streamed - base) / (whole - base) << ")\n";
  return 0;
}
