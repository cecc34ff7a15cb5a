#pragma once

#include <torch/torch.h>

namespace guidance::architecture {

/// A Linear layer's x Wᵀ + b. Where no gradient is being recorded on a CPU (a frozen guide's
/// forward pass, evaluations), it runs through oneDNN's inner product, whose output rows do not
/// depend on where an example sits in the batch; OpenBLAS's matmul rounds a row differently in
/// its last bits at another row position. A frozen guide made of such layers, convolutions,
/// attention and normalisation then gives an example the same outputs in every batch, which lets
/// the guide-tap cache reproduce an uncached run bit for bit. Training keeps LibTorch's own path
/// (oneDNN's inner product has no autograd here).
/// @param x float [..., in_features]
/// @return [..., out_features]
inline torch::Tensor linear(torch::nn::LinearImpl& layer, const torch::Tensor& x) {
  if (torch::GradMode::is_enabled() || !x.is_cpu() || x.scalar_type() != torch::kFloat ||
      x.dim() < 1 || x.numel() == 0 || !at::hasMKLDNN()) {
    return layer.forward(x);
  }
  auto rows = x.reshape({-1, x.size(-1)}).contiguous();
  auto y = at::mkldnn_linear(rows.to_mkldnn(), layer.weight, layer.bias).to_dense();
  auto shape = x.sizes().vec();
  shape.back() = layer.weight.size(0);
  return y.view(shape);
}

}  // namespace guidance::architecture
