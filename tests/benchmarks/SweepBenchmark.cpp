// What `guidance check` and `guidance run --dry-run` spend per run of a large sweep: reading the
// [sweep] table, expanding each run alone, and validating it (docs/studies.md, "Time"). The
// config is configs/quickstart.toml with its [sweep] replaced by run.seed x train.learning_rate x
// train.epochs axes of 1 000, 10 000 and 100 000 runs; items_per_second (runs per second) must
// stay flat as the sweep grows. (`check` also assembles each distinct run once: here, one.)
//
//   bench-sweep [benchmark flags]      (the 100 000-run cases take seconds each)

#include <string>

#include <benchmark/benchmark.h>

#include "host/study/RunSelection.h"
#include "host/sweep/Shards.h"
#include "host/sweep/Sweep.h"
#include "tests/support/TestSupport.h"

namespace guidance {
namespace {

/// @return "[v(0), v(1), ...]" of `count` values
template <typename Value>
std::string list_of(int64_t count, Value value) {
  std::string text = "[";
  for (int64_t i = 0; i < count; ++i) text += (i ? ", " : "") + value(i);
  return text + "]";
}

/// Writes the quickstart config with a sweep of seeds x rates x epochs runs. @return its path
std::string write_sweep(const testing::TemporaryDirectory& directory, int64_t seeds, int64_t rates,
                        int64_t epochs) {
  std::string text = testing::read_file(testing::source_directory() + "/configs/quickstart.toml");
  text = text.substr(0, text.find("\n[sweep]")) + "\n[sweep]\n";
  text += "\"run.seed\" = " + list_of(seeds, [](int64_t i) { return std::to_string(i); }) + "\n";
  text += "\"train.learning_rate\" = " +
          list_of(rates, [](int64_t i) { return std::to_string(0.0001 * (i + 1)); }) + "\n";
  text += "\"train.epochs\" = " +
          list_of(epochs, [](int64_t i) { return std::to_string(i + 1); }) + "\n";
  std::string path = directory.file("sweep.toml");
  testing::write_file(path, text);
  return path;
}

void sweep_benchmark(benchmark::State& state, bool validate) {
  testing::TemporaryDirectory directory;
  std::string path = write_sweep(directory, state.range(0), state.range(1), state.range(2));
  const PluginCatalog& catalog = testing::built_plugins();
  size_t runs = 0;
  for (auto _ : state) {
    Sweep sweep(ConfigDocument::parse(path));
    runs = sweep.size();
    if (validate) {
      for_each_run(sweep, shard_positions(runs, 0, 1), catalog, [](SweepRun&, Config&) {});
    } else {
      for (size_t index = 0; index < runs; ++index) benchmark::DoNotOptimize(sweep.run(index));
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(runs));
}

void add_sizes(benchmark::internal::Benchmark* benchmark) {
  benchmark->ArgNames({"seeds", "rates", "epochs"});
  benchmark->Args({10, 10, 10})->Args({100, 10, 10})->Args({100, 100, 10});
  benchmark->Unit(benchmark::kMillisecond)->UseRealTime();
}

BENCHMARK_CAPTURE(sweep_benchmark, expand, false)->Apply(add_sizes);
BENCHMARK_CAPTURE(sweep_benchmark, expand_and_validate, true)->Apply(add_sizes);

}  // namespace
}  // namespace guidance

BENCHMARK_MAIN();
