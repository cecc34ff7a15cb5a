#pragma once

#include <torch/types.h>

#include "guidance/api/Network.h"
#include "host/config/Config.h"

namespace guidance {

/// Runs the forward passes inside its scope in `train.precision`: nothing changes for float32;
/// for bf16-mixed, LibTorch's autocast for the device casts matmuls and convolutions to bfloat16
/// while parameters stay float32 (autograd records the casts, so the backward pass, outside the
/// scope, reaches the float32 weights). Restores the thread's earlier autocast state on exit.
class AutocastScope {
 public:
  AutocastScope(Precision precision, torch::Device device);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool active_ = false;
  bool cuda_ = false;
  bool was_enabled_ = false;
  at::ScalarType previous_dtype_ = at::kFloat;
};

/// @return whether `device` has bfloat16 arithmetic: on a CPU, the AVX512-BF16 instructions
/// oneDNN's bf16 kernels use (without them LibTorch falls back to emulation that is slower than
/// float32); CUDA devices are trusted (Ampere and later; older ones fail in their kernels).
bool device_has_bf16(torch::Device device);

/// @throws RunError naming train.precision when `device` cannot run `precision`.
void check_precision_supported(Precision precision, torch::Device device);

/// @return `output` with its logits and taps in float32, where the task loss and the distances
/// are computed (half-precision tensors only; others are returned as they are).
NetworkOutput in_float32(NetworkOutput output);

}  // namespace guidance
