#pragma once

#include <cstdint>
#include <string>

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

namespace guidance {

/// Writes a module's parameters and buffers, by their full dotted names, to a weights file.
/// The write goes to a temporary file renamed into place, so a crash never leaves half a file.
void save_weights(torch::nn::Module& module, const std::string& path);

/// Loads a weights file into a module. Throws RunError naming the file and every missing,
/// unexpected or mis-shaped tensor (with both shapes) when the file does not match the module.
void load_weights(torch::nn::Module& module, const std::string& path);

/// What a training checkpoint holds besides the model and optimiser.
struct TrainingProgress {
  int64_t step = 0;             ///< optimiser steps done
  double best_score = 0;        ///< best validation value of the selection measure so far
  int64_t best_step = -1;       ///< step of the best validation so far; -1: none yet
};

/// Writes a checkpoint (model, optimiser, progress, the global RNG state) atomically.
void save_checkpoint(const std::string& path, torch::nn::Module& model,
                     torch::optim::Optimizer& optimizer, const TrainingProgress& progress);

/// Restores a checkpoint written by save_checkpoint into the same model and optimiser, and the
/// global RNG. Throws RunError naming the file on any mismatch.
TrainingProgress load_checkpoint(const std::string& path, torch::nn::Module& model,
                                 torch::optim::Optimizer& optimizer);

}  // namespace guidance
