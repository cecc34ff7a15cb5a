#pragma once

#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "host/config/Config.h"
#include "host/plugins/PluginCatalog.h"

namespace guidance {

/// What `guidance bench` is asked to time.
struct BenchOptions {
  int64_t steps = 20;      ///< training steps timed
  int64_t warmup = 3;      ///< steps run first, untimed (allocator, BLAS buffers, caches)
  bool unguided = false;   ///< time the same run with guidance off
  int64_t threads = -1;    ///< -1: the config's run.threads
  int64_t guide_cache_mb = -1;  ///< -1: the config's guidance.guide_cache_mb
  std::optional<GuideCacheMode> guide_cache;  ///< none: the config's guidance.guide_cache
  std::optional<Precision> precision;         ///< none: the config's train.precision
};

/// One figure of a bench: `name value`.
using BenchFigure = std::pair<std::string, double>;

/// Builds the run a config describes (guide initialised as `guidance run` would, a trained one
/// cached as it caches it; no record or checkpoint written), runs `warmup` steps, one untimed step under a FlopCounter, then times `steps` steps
/// with their phases. Figures, in order:
/// - steps_per_s, seconds_per_step
/// - share.data, share.guide_forward, share.target_forward, share.distances, share.backward,
///   share.optimizer: each phase's fraction of the timed wall-clock time
/// - step_gflop: the counted operations of one step (see FlopCounter)
/// - matmul_gflop_per_s: a 1024² float32 matmul's throughput measured in this process
/// - compute_fraction: step_gflop · steps_per_s / matmul_gflop_per_s
/// - peak_rss_mib: the process's peak resident memory
/// - guide_cache_hits: timed steps whose guide outputs came from the guide-tap cache
std::vector<BenchFigure> bench_config(const Config& config, const PluginCatalog& catalog,
                                      const BenchOptions& options, std::ostream& log);

/// @return the throughput, in GFLOP/s, of 1024 x 1024 float32 matmuls on the CPU, timed for
/// about `seconds` after one warm-up product.
double matmul_gflop_per_s(double seconds = 0.5);

}  // namespace guidance
