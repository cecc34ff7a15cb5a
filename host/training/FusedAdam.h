#pragma once

#include <torch/optim/adam.h>

namespace guidance {

/// torch::optim::Adam with its update done in one pass over each parameter.
///
/// LibTorch's Adam updates a parameter with six tensor operations (two moment updates, a square
/// root, a division, an addition, the step), each a full pass over memory; for a wide network the
/// optimiser then costs a tenth of a guided step. Here one loop reads the gradient and the state
/// and writes them back once, computing the same formula in the same order of float operations
/// (so results agree to float rounding; a test compares them). The state, options and
/// serialisation are Adam's own, so checkpoints move freely between the two. Parameters that are
/// not all contiguous float32 CPU tensors (CUDA, other dtypes), and amsgrad, take Adam's own step.
class FusedAdam : public torch::optim::Adam {
 public:
  using torch::optim::Adam::Adam;

  torch::Tensor step(LossClosure closure = nullptr) override;
};

}  // namespace guidance
