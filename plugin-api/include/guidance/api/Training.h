#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

namespace guidance {

/// The optimisers the host trains with (`train.optimizer`, and a guide's own training).
enum class Optimizer { Adam, AdamW, Sgd };

/// The config spelling of each optimiser, in declaration order: the one list that parameter
/// choices, config validation and records use.
inline constexpr std::array<const char*, 3> kOptimizerNames = {"adam", "adamw", "sgd"};

inline const char* to_string(Optimizer optimizer) {
  return kOptimizerNames[static_cast<size_t>(optimizer)];
}

/// @return the optimiser spelled `name` in configs, or nothing when no optimiser is.
inline std::optional<Optimizer> optimizer_named(const std::string& name) {
  for (size_t i = 0; i < kOptimizerNames.size(); ++i) {
    if (name == kOptimizerNames[i]) return static_cast<Optimizer>(i);
  }
  return std::nullopt;
}

/// How the host should train a network unguided: a guide's own training for a `trained`-style
/// strategy, and the part of a run's `[train]` section it shares.
struct GuideTraining {
  Optimizer optimizer = Optimizer::Adam;
  double learning_rate = 1e-3;
  double weight_decay = 0.0;
  int64_t batch_size = 128;
  int64_t epochs = 1;
  int64_t max_steps = 0;  ///< 0: no step budget, epochs decide
  double grad_clip = 0.0;  ///< maximum global gradient norm; 0: no clipping
};

}  // namespace guidance
