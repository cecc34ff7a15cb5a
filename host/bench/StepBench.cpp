#include "host/bench/StepBench.h"

#include <sys/resource.h>

#include <chrono>

#include <torch/torch.h>

#include "host/bench/FlopCounter.h"
#include "host/common/Errors.h"
#include "host/training/GuideTrainer.h"
#include "host/training/RunSetup.h"
#include "host/training/Trainer.h"

namespace guidance {

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // Linux reports KiB
}

}  // namespace

double matmul_gflop_per_s(double seconds) {
  torch::NoGradGuard no_grad;
  torch::Tensor a = torch::randn({1024, 1024});
  torch::Tensor b = torch::randn({1024, 1024});
  torch::Tensor c = a.mm(b);
  int64_t products = 0;
  auto start = std::chrono::steady_clock::now();
  double elapsed = 0;
  do {
    torch::mm_out(c, a, b);
    ++products;
    elapsed = seconds_since(start);
  } while (elapsed < seconds);
  return 2.0 * 1024.0 * 1024.0 * 1024.0 * static_cast<double>(products) / elapsed / 1e9;
}

std::vector<BenchFigure> bench_config(const Config& base, const PluginCatalog& catalog,
                                      const BenchOptions& options, std::ostream& log) {
  if (options.steps < 1) throw UsageError("--steps must be at least 1, got " + std::to_string(options.steps));
  if (options.warmup < 0) throw UsageError("--warmup must be at least 0, got " + std::to_string(options.warmup));
  Config config = base;
  if (options.unguided) config.guidance.enabled = false;
  if (options.guide_cache_mb >= 0) config.guidance.guide_cache_mb = options.guide_cache_mb;
  if (options.guide_cache) config.guidance.guide_cache = *options.guide_cache;
  if (options.precision) config.train.precision = *options.precision;
  config.train.max_steps = options.warmup + 1 + options.steps;
  apply_threads(options.threads > 0 ? options.threads : config.run.threads);

  RunComponents run = assemble_run(config, catalog);
  if (run.guide) initialize_guide(config, catalog, run, log, /*quiet=*/false);
  StepPhases phases;
  Trainer trainer(trainer_settings(config, run.device), run.dataset, run.task, run.target, run.guide, run.metric, run.pairs);

  for (int64_t step = 0; step < options.warmup; ++step) trainer.train_step();
  double step_flops = 0;
  {
    FlopCounter counter;
    trainer.train_step();
    step_flops = counter.flops();
  }
  const int64_t hits_before = trainer.guide_cache() ? trainer.guide_cache()->hits() : 0;
  auto start = std::chrono::steady_clock::now();
  trainer.set_phases(&phases);
  for (int64_t step = 0; step < options.steps; ++step) trainer.train_step();
  const double elapsed = seconds_since(start);
  trainer.set_phases(nullptr);

  const double steps_per_s = static_cast<double>(options.steps) / elapsed;
  const double gflop = step_flops / 1e9;
  const double matmul = matmul_gflop_per_s();
  std::vector<BenchFigure> figures{{"steps_per_s", steps_per_s},
                                   {"seconds_per_step", elapsed / static_cast<double>(options.steps)}};
  for (const auto& [name, seconds] :
       {std::pair{"data", phases.data}, std::pair{"guide_forward", phases.guide_forward},
        std::pair{"target_forward", phases.target_forward},
        std::pair{"distances", phases.distances}, std::pair{"backward", phases.backward},
        std::pair{"optimizer", phases.optimizer}}) {
    figures.emplace_back(std::string("share.") + name, seconds / elapsed);
  }
  figures.emplace_back("step_gflop", gflop);
  figures.emplace_back("matmul_gflop_per_s", matmul);
  figures.emplace_back("compute_fraction", gflop * steps_per_s / matmul);
  figures.emplace_back("peak_rss_mib", peak_rss_mib());
  figures.emplace_back("guide_cache_hits",
                       trainer.guide_cache() ? trainer.guide_cache()->hits() - hits_before : 0);
  if (run.guide) log << trainer.guide_cache_status() << "\n";
  return figures;
}

}  // namespace guidance
