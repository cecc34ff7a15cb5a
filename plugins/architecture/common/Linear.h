#pragma once

#include <ATen/autocast_mode.h>
#include <torch/torch.h>

namespace guidance::architecture {

/// A Linear layer's x Wᵀ + b. Where no gradient is being recorded on a CPU (a frozen guide's
/// forward pass, evaluations), it runs through oneDNN's inner product, whose output rows do not
/// depend on where an example sits in the batch; OpenBLAS's matmul rounds a row differently in
/// its last bits at another row position. A frozen guide made of such layers, convolutions,
/// attention and normalisation then gives an example the same outputs in every batch, which lets
/// the guide-tap cache reproduce an uncached run bit for bit. Under CPU autocast to bfloat16 the
/// inner product runs in bfloat16, as autocast would run the layer. Training keeps LibTorch's own
/// path (oneDNN's inner product has no autograd here).
/// @param x float [..., in_features]
/// @return [..., out_features]
inline torch::Tensor linear(torch::nn::LinearImpl& layer, const torch::Tensor& x) {
  if (torch::GradMode::is_enabled() || !x.is_cpu() || x.dim() < 1 || x.numel() == 0 ||
      !at::hasMKLDNN()) {
    return layer.forward(x);
  }
  const bool bf16 = at::autocast::is_cpu_enabled() &&
                    at::autocast::get_autocast_cpu_dtype() == torch::kBFloat16;
  const torch::ScalarType dtype = bf16 ? torch::kBFloat16 : torch::kFloat;
  if (!bf16 && x.scalar_type() != torch::kFloat) return layer.forward(x);
  auto rows = x.reshape({-1, x.size(-1)}).to(dtype).contiguous();
  torch::Tensor bias = layer.bias.defined() ? layer.bias.to(dtype) : torch::Tensor();
  auto y = at::mkldnn_linear(rows.to_mkldnn(), layer.weight.to(dtype), bias).to_dense();
  auto shape = x.sizes().vec();
  shape.back() = layer.weight.size(0);
  return y.view(shape);
}

/// A LayerNorm over `x` in the dtype of its parameters. LibTorch 1.13's CPU autocast leaves
/// layer_norm out and its kernel refuses a bfloat16 input with float32 parameters, so under
/// bf16 autocast the input is widened first, as later PyTorch versions' autocast does.
inline torch::Tensor layer_norm(torch::nn::LayerNormImpl& norm, const torch::Tensor& x) {
  const torch::ScalarType dtype = norm.weight.defined() ? norm.weight.scalar_type() : x.scalar_type();
  return norm.forward(x.scalar_type() == dtype ? x : x.to(dtype));
}

}  // namespace guidance::architecture
