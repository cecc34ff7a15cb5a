#pragma once

#include <cstdint>

#include <ATen/record_function.h>

namespace guidance {

/// Counts, while alive, the floating-point operations of the compute-bound work LibTorch runs:
/// matrix products (mm, addmm, bmm, baddbmm), convolutions forward and backward, and the
/// metrics' BLAS Gram matrices (`guidance::syrk`, recorded by plugins/metric/common/Gram.h). Each
/// is counted from its operands' shapes: 2·m·k·n for a product, 2·N·C_out·(C_in/groups)·k·out for
/// a convolution and each gradient it computes, n²·d for a syrk Gram (its n(n+1)/2·d
/// multiply-adds). An op called inside a counted one is not counted again. Element-wise work
/// (activations, norms, the optimiser) is memory-bound and left out.
///
/// Uses a global RecordFunction callback: one counter at a time, on any thread.
class FlopCounter {
 public:
  FlopCounter();
  ~FlopCounter();
  FlopCounter(const FlopCounter&) = delete;
  FlopCounter& operator=(const FlopCounter&) = delete;

  /// @return the operations counted so far.
  double flops() const;

 private:
  at::CallbackHandle handle_;
};

}  // namespace guidance
