#pragma once

#include <memory>
#include <vector>

#include <torch/optim/optimizer.h>

#include "host/config/Config.h"

namespace guidance {

/// @return the optimiser a [train] section names (adam, adamw, sgd with momentum), with its
/// learning rate and weight decay.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const TrainSection& train,
                                                        std::vector<torch::Tensor> parameters);

/// @return the learning rate for optimiser step `step` (0-based): the schedule (constant; step
/// decay ×gamma every step_epochs epochs; cosine to min_learning_rate over the run), times a
/// linear warm-up over the first warmup_steps steps.
double learning_rate_at(const TrainSection& train, int64_t step, int64_t steps_per_epoch,
                        int64_t total_steps);

/// Sets every parameter group's learning rate.
void set_learning_rate(torch::optim::Optimizer& optimizer, double learning_rate);

}  // namespace guidance
