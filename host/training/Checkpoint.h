#pragma once

#include <cstdint>
#include <string>

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

#include "host/common/AtomicFile.h"

namespace guidance {

/// Version of the weights and checkpoint files this build writes (key `__guidance_format`).
constexpr int64_t kWeightsFormatVersion = 1;

/// @return a weights file's bytes: the module's parameters and buffers by their full dotted
/// names, the format version and a checksum over every tensor (name, dtype, shape and bytes).
std::string serialize_weights(torch::nn::Module& module);

/// save: write_file_atomically(path, serialize_weights(module)).
void save_weights(torch::nn::Module& module, const std::string& path);

/// Loads a weights file into a module. A file this workbench wrote has its checksum and format
/// version verified first; one without them (made elsewhere, e.g. by PyTorch) is read as is.
/// Throws RunError naming the file when it is damaged, from a newer format, or does not match the
/// module (listing every missing, unexpected or mis-shaped tensor with both shapes).
void load_weights(torch::nn::Module& module, const std::string& path);

/// What a training checkpoint holds besides the model and optimiser.
struct TrainingProgress {
  int64_t step = 0;             ///< optimiser steps done
  double best_score = 0;        ///< best validation value of the selection measure so far
  int64_t best_step = -1;       ///< step of the best validation so far; -1: none yet
  std::string best_weights;     ///< serialize_weights() of the best weights ("" before any)
  int64_t world_size = 1;       ///< processes of the run that wrote it (1 in checkpoints without)
};

/// @return the optimiser's state (LibTorch's archive bytes), as checkpoints store it.
std::string optimizer_state(torch::optim::Optimizer& optimizer);

/// Restores an optimiser state made by optimizer_state() for the same parameters.
void load_optimizer_state(torch::optim::Optimizer& optimizer, const std::string& state);

/// Writes a checkpoint (model, optimiser, progress with the best weights, the global RNG state)
/// atomically, with a format version and a checksum over everything in it.
void save_checkpoint(const std::string& path, torch::nn::Module& model,
                     torch::optim::Optimizer& optimizer, const TrainingProgress& progress);

/// Restores a checkpoint written by save_checkpoint into the same model and optimiser, and the
/// global RNG. Throws RunError naming the file when it is damaged (checksum), from a newer
/// format, or does not match.
TrainingProgress load_checkpoint(const std::string& path, torch::nn::Module& model,
                                 torch::optim::Optimizer& optimizer);

}  // namespace guidance
