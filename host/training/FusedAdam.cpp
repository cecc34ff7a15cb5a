#include "host/training/FusedAdam.h"

#include <cmath>

#include <ATen/Parallel.h>
#include <c10/util/C++17.h>

namespace guidance {

namespace {

bool fusable(const torch::Tensor& parameter, const torch::Tensor& gradient) {
  return parameter.device().is_cpu() && parameter.scalar_type() == torch::kFloat &&
         gradient.scalar_type() == torch::kFloat && parameter.is_contiguous() &&
         gradient.is_contiguous() && !gradient.is_sparse();
}

}  // namespace

torch::Tensor FusedAdam::step(LossClosure closure) {
  for (const auto& group : param_groups_) {
    if (static_cast<const torch::optim::AdamOptions&>(group.options()).amsgrad()) {
      return Adam::step(closure);
    }
    for (const auto& parameter : group.params()) {
      if (parameter.grad().defined() && !fusable(parameter, parameter.grad())) {
        return Adam::step(closure);
      }
    }
  }
  torch::NoGradGuard no_grad;
  torch::Tensor loss;
  if (closure) {
    torch::AutoGradMode enable_grad(true);
    loss = closure();
  }
  for (auto& group : param_groups_) {
    auto& options = static_cast<torch::optim::AdamOptions&>(group.options());
    for (auto& parameter : group.params()) {
      if (!parameter.grad().defined()) continue;
      const torch::Tensor& gradient = parameter.grad();
      // Keyed as Adam keys its state, so checkpoints of either load into the other.
      auto& slot = state_[c10::guts::to_string(parameter.unsafeGetTensorImpl())];
      if (!slot) {
        auto state = std::make_unique<torch::optim::AdamParamState>();
        state->step(0);
        state->exp_avg(torch::zeros_like(parameter, torch::MemoryFormat::Preserve));
        state->exp_avg_sq(torch::zeros_like(parameter, torch::MemoryFormat::Preserve));
        slot = std::move(state);
      }
      auto& state = static_cast<torch::optim::AdamParamState&>(*slot);
      state.step(state.step() + 1);
      const double beta1 = std::get<0>(options.betas());
      const double beta2 = std::get<1>(options.betas());
      const double bias_correction1 = 1 - std::pow(beta1, state.step());
      const double bias_correction2 = 1 - std::pow(beta2, state.step());
      // The scalars as LibTorch's float kernels see them.
      const auto decay = static_cast<float>(options.weight_decay());
      const auto keep1 = static_cast<float>(beta1), take1 = static_cast<float>(1 - beta1);
      const auto keep2 = static_cast<float>(beta2), take2 = static_cast<float>(1 - beta2);
      const auto root_correction2 = static_cast<float>(std::sqrt(bias_correction2));
      const auto eps = static_cast<float>(options.eps());
      const auto step_size = static_cast<float>(-(options.lr() / bias_correction1));
      float* weights = parameter.data_ptr<float>();
      const float* grads = gradient.data_ptr<float>();
      float* first = state.exp_avg().data_ptr<float>();
      float* second = state.exp_avg_sq().data_ptr<float>();
      at::parallel_for(0, parameter.numel(), 1 << 15, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
          float g = grads[i];
          if (decay != 0.0f) g = g + decay * weights[i];
          float m = first[i] * keep1;
          m = m + take1 * g;
          float v = second[i] * keep2;
          v = v + take2 * (g * g);
          first[i] = m;
          second[i] = v;
          float denominator = std::sqrt(v) / root_correction2 + eps;
          weights[i] = weights[i] + step_size * (m / denominator);
        }
      });
    }
  }
  return loss;
}

}  // namespace guidance
