#include "host/training/Precision.h"

#include <ATen/autocast_mode.h>

#include "host/common/Errors.h"

namespace guidance {

AutocastScope::AutocastScope(Precision precision, torch::Device device) {
  if (precision == Precision::Float32) return;
  active_ = true;
  cuda_ = device.is_cuda();
  if (cuda_) {
    was_enabled_ = at::autocast::is_enabled();
    previous_dtype_ = at::autocast::get_autocast_gpu_dtype();
    at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
    at::autocast::set_enabled(true);
  } else {
    was_enabled_ = at::autocast::is_cpu_enabled();
    previous_dtype_ = at::autocast::get_autocast_cpu_dtype();
    at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
    at::autocast::set_cpu_enabled(true);
  }
  at::autocast::increment_nesting();
}

AutocastScope::~AutocastScope() {
  if (!active_) return;
  // The outermost scope drops the casts of the weights autocast kept for reuse within it.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  if (cuda_) {
    at::autocast::set_enabled(was_enabled_);
    at::autocast::set_autocast_gpu_dtype(previous_dtype_);
  } else {
    at::autocast::set_cpu_enabled(was_enabled_);
    at::autocast::set_autocast_cpu_dtype(previous_dtype_);
  }
}

bool device_has_bf16(torch::Device device) {
  if (device.is_cuda()) return true;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512bf16");
#else
  return false;
#endif
}

void check_precision_supported(Precision precision, torch::Device device) {
  if (precision == Precision::Float32 || device_has_bf16(device)) return;
  throw RunError("train.precision = \"bf16-mixed\" needs bfloat16 arithmetic, which this " +
                 std::string(device.is_cpu() ? "CPU lacks (no AVX512-BF16 instructions)"
                                             : "device lacks") +
                 ": use train.precision = \"32\"");
}

NetworkOutput in_float32(NetworkOutput output) {
  auto widen = [](torch::Tensor& tensor) {
    if (tensor.defined() && (tensor.scalar_type() == at::kBFloat16 ||
                              tensor.scalar_type() == at::kHalf)) {
      tensor = tensor.to(at::kFloat);
    }
  };
  widen(output.logits);
  for (auto& tap : output.taps) widen(tap);
  return output;
}

}  // namespace guidance
