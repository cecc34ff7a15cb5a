#include "host/training/Optimization.h"

#include <cmath>

#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>

#include "host/training/FusedAdam.h"

namespace guidance {

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const TrainSection& train,
                                                        std::vector<torch::Tensor> parameters) {
  switch (train.optimizer) {
    case Optimizer::Sgd:
      return std::make_unique<torch::optim::SGD>(
          std::move(parameters), torch::optim::SGDOptions(train.learning_rate)
                                     .momentum(train.momentum)
                                     .nesterov(train.nesterov)
                                     .weight_decay(train.weight_decay));
    case Optimizer::AdamW:
      return std::make_unique<torch::optim::AdamW>(
          std::move(parameters),
          torch::optim::AdamWOptions(train.learning_rate).weight_decay(train.weight_decay));
    case Optimizer::Adam:
      break;
  }
  return std::make_unique<FusedAdam>(
      std::move(parameters),
      torch::optim::AdamOptions(train.learning_rate).weight_decay(train.weight_decay));
}

double learning_rate_at(const TrainSection& train, int64_t step, int64_t steps_per_epoch,
                        int64_t total_steps) {
  double rate = train.learning_rate;
  if (train.schedule == Schedule::Step) {
    int64_t epoch = step / std::max<int64_t>(1, steps_per_epoch);
    rate *= std::pow(train.gamma, static_cast<double>(epoch / train.step_epochs));
  } else if (train.schedule == Schedule::Cosine) {
    int64_t span = std::max<int64_t>(1, total_steps - train.warmup_steps);
    double progress = std::clamp(static_cast<double>(step - train.warmup_steps) / span, 0.0, 1.0);
    rate = train.min_learning_rate +
           (train.learning_rate - train.min_learning_rate) * 0.5 * (1.0 + std::cos(M_PI * progress));
  }
  if (step < train.warmup_steps) {
    rate *= static_cast<double>(step + 1) / static_cast<double>(train.warmup_steps);
  }
  return rate;
}

void set_learning_rate(torch::optim::Optimizer& optimizer, double learning_rate) {
  for (auto& group : optimizer.param_groups()) group.options().set_lr(learning_rate);
}

}  // namespace guidance
