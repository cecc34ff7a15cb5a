// Benchmarks every differentiable metric plugin, forward and forward+backward, at n = 256 and
// d ∈ {128, 1024, 50176}, beside the plain Gram matmul X·Xᵀ (a general matmul, as LibTorch's mm
// computes it) of the same [256, d] batch, timed once per iteration right after the metric so both
// see the same machine state. Counter `per_gram` = metric time / Gram matmul time. For linear and
// debiased CKA the counter `per_needed_matmuls` divides by the Gram-shaped n×n×d matmuls the
// metric fundamentally needs: two forward (K = XXᵀ and L = YYᵀ; y is the guide without a gradient,
// but its Gram is still needed) and a third backward (G·X, the gradient of x): 2 for fwd, 3 for
// fwd+bwd. The metrics form their Grams with BLAS syrk (half the multiply-adds; Gram.h), so the
// ratio can fall below 1. (At d = 128 linear CKA takes the d×d covariance route; the ratio is
// still to the Gram-shaped matmuls.)
//
//   bench-metrics [--threads N] [benchmark flags]   (N defaults to the hardware cores)

#include <algorithm>
#include <chrono>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include "host/common/CommandLine.h"
#include "host/common/Errors.h"
#include "tests/support/TestSupport.h"

namespace {

constexpr int64_t kBatch = 256;
const std::vector<int64_t> kWidths = {128, 1024, 50176};

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

void gram_benchmark(benchmark::State& state, int64_t d) {
  torch::Tensor x = torch::randn({kBatch, d});
  for (auto _ : state) benchmark::DoNotOptimize(x.mm(x.t()));
  state.SetItemsProcessed(state.iterations() * kBatch);
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * kBatch * kBatch * d * state.iterations(),
                                                 benchmark::Counter::kIsRate,
                                                 benchmark::Counter::kIs1000);
}

void metric_benchmark(benchmark::State& state, std::shared_ptr<guidance::Metric> metric,
                      int64_t d, bool backward, int needed_matmuls) {
  torch::Tensor latent = torch::randn({kBatch, 8});
  torch::Tensor x = (latent.mm(torch::randn({8, d})) + torch::randn({kBatch, d}))
                        .requires_grad_(backward);
  torch::Tensor y = latent.mm(torch::randn({8, d})) + torch::randn({kBatch, d});
  torch::Tensor plain = x.detach();
  double metric_seconds = 0.0;
  double gram_seconds = 0.0;
  for (auto _ : state) {
    Clock::time_point start = Clock::now();
    torch::Tensor value = metric->distance(x, y);
    if (backward) {
      value.backward();
      x.mutable_grad().reset();
    }
    benchmark::DoNotOptimize(value.data_ptr());
    metric_seconds += seconds_since(start);
    // The baseline, timed in the same iteration so that the machine's drift hits both alike.
    state.PauseTiming();
    start = Clock::now();
    benchmark::DoNotOptimize(plain.mm(plain.t()).data_ptr());
    gram_seconds += seconds_since(start);
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
  double iterations = static_cast<double>(state.iterations());
  double per_call = metric_seconds / iterations;
  double gram = gram_seconds / iterations;
  state.counters["gram_ms"] = 1e3 * gram;
  state.counters["per_gram"] = per_call / gram;
  if (needed_matmuls > 0) {
    state.counters["per_needed_matmuls"] = per_call / (needed_matmuls * gram);
  }
  state.SetLabel(backward ? "fwd+bwd" : "fwd");
}

}  // namespace

int main(int argc, char** argv) {
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  CLI::App app("Times every differentiable metric plugin against a Gram matmul.", "bench-metrics");
  guidance::use_workbench_conventions(app);
  app.add_option("--threads", threads, "LibTorch intra-op threads (default: the hardware cores)")
      ->type_name("N")
      ->check(guidance::at_least(1));
  app.allow_extras();
  app.footer("Other arguments go to Google Benchmark, e.g. --benchmark_filter=REGEX.");
  try {
    if (!guidance::parse_command_line(app, {argv + 1, argv + argc}, std::cout)) return 0;
  } catch (const guidance::UsageError& error) {
    std::cerr << error.what() << "\n";
    return 2;
  }
  std::vector<std::string> benchmark_args = app.remaining();
  std::vector<char*> benchmark_argv = {argv[0]};
  for (std::string& arg : benchmark_args) benchmark_argv.push_back(arg.data());
  int benchmark_argc = static_cast<int>(benchmark_argv.size());
  torch::set_num_threads(threads);
  torch::manual_seed(0);
  benchmark::Initialize(&benchmark_argc, benchmark_argv.data());
  if (benchmark::ReportUnrecognizedArguments(benchmark_argc, benchmark_argv.data())) return 1;
  benchmark::AddCustomContext("torch_threads", std::to_string(threads));

  const guidance::PluginCatalog& catalog = guidance::testing::built_plugins();
  for (int64_t d : kWidths) {
    benchmark::RegisterBenchmark(("gram-matmul/d:" + std::to_string(d)).c_str(), gram_benchmark, d)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  }
  for (const std::string& name : catalog.names(guidance::PluginKind::Metric)) {
    auto plugin = catalog.metric(name);
    if (!plugin->traits().differentiable) continue;
    auto metric = plugin->create(guidance::defaults_of(plugin->info().params));
    bool gram_based = name == "linear-cka" || name == "debiased-cka";
    for (int64_t d : kWidths) {
      for (bool backward : {false, true}) {
        std::string label = name + (backward ? "/fwd+bwd" : "/fwd") + "/d:" + std::to_string(d);
        benchmark::RegisterBenchmark(label.c_str(), metric_benchmark, metric, d, backward,
                                     gram_based ? (backward ? 3 : 2) : 0)
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
      }
    }
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
