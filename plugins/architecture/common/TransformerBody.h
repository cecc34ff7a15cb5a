#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "guidance/api/ParamTable.h"
#include "guidance/api/PluginApi.h"
#include "plugins/architecture/common/Linear.h"

namespace guidance::architecture {

/// What a SelfAttention computed: its two Linear layers' outputs.
struct AttentionOutputs {
  torch::Tensor qkv;  ///< [B, L, 3D], the packed query, key and value projections
  torch::Tensor out;  ///< [B, L, D], the output projection: the attention's result
};

/// Multi-head self-attention by scaled dot products, with a boolean "may attend" mask.
class SelfAttentionImpl : public torch::nn::Module {
 public:
  /// @param width model width D; must be divisible by `heads` (transformer_sizes() checks)
  /// @param heads number of attention heads
  /// @param dropout probability of dropping an attention weight during training
  SelfAttentionImpl(int64_t width, int64_t heads, double dropout)
      : heads_(heads),
        qkv_(register_module("qkv", torch::nn::Linear(width, 3 * width))),
        out_(register_module("out", torch::nn::Linear(width, width))),
        dropout_(register_module("dropout", torch::nn::Dropout(dropout))) {}

  /// @param x float [B, L, D]
  /// @param allowed bool [B, L, L] indexed (query, key): true where the query may attend to the
  ///        key. Every query must be allowed at least one key.
  /// @return the packed projections and the output, see AttentionOutputs
  AttentionOutputs forward(const torch::Tensor& x, const torch::Tensor& allowed) {
    const int64_t batch = x.size(0), length = x.size(1), width = x.size(2);
    AttentionOutputs out;
    out.qkv = linear(*qkv_, x);
    // [B, L, 3, heads, head_width] -> three [B, heads, L, head_width]
    auto qkv = out.qkv.view({batch, length, 3, heads_, width / heads_}).permute({2, 0, 3, 1, 4});
    torch::Tensor query = qkv[0], key = qkv[1], value = qkv[2];
    auto scores = torch::matmul(query, key.transpose(-2, -1)) /
                  std::sqrt(static_cast<double>(width / heads_));
    scores = scores.masked_fill(allowed.unsqueeze(1).logical_not(),
                                -std::numeric_limits<float>::infinity());
    auto weights = dropout_(torch::softmax(scores, -1));
    auto mixed = torch::matmul(weights, value).transpose(1, 2).reshape({batch, length, width});
    out.out = linear(*out_, mixed);
    return out;
  }

 private:
  int64_t heads_;
  torch::nn::Linear qkv_;
  torch::nn::Linear out_;
  torch::nn::Dropout dropout_;
};
TORCH_MODULE(SelfAttention);

/// The parameters every transformer-based plugin shares (transformer_params() declares each),
/// with small defaults that run on a CPU in seconds.
struct TransformerOptions {
  int64_t depth = 2;       ///< number of blocks
  int64_t width = 32;      ///< model width D
  int64_t heads = 2;       ///< attention heads; must divide width
  double mlp_ratio = 2.0;  ///< feed-forward hidden width as a multiple of width
  double dropout = 0.0;    ///< dropout on attention weights and sublayer outputs
};

/// The sizes of a stack of pre-norm transformer blocks, computed by transformer_sizes() from
/// TransformerOptions.
struct TransformerSizes {
  int64_t depth;    ///< number of blocks
  int64_t width;    ///< model width D
  int64_t heads;    ///< attention heads; must divide width
  int64_t hidden;   ///< feed-forward hidden width
  double dropout;   ///< dropout on attention weights and sublayer outputs
};

/// A pre-norm transformer block: x + attention(norm1(x)), then x + feed_forward(norm2(x)).
///
/// Its taps (tap_specs()), in call order, are the outputs of its LayerNorm and Linear layers, as a
/// PyTorch block written the same way would have them hooked: "norm1", "attention.qkv", the
/// attention's output projection, "norm2", "feed_forward.0" (before the GELU) and the
/// feed-forward's last Linear. The two sublayer outputs are also the block taps (they were before
/// tap sets), so each is listed once, in both sets, under its block name: "attention" is the
/// module "attention.out" and "feed_forward" is the module "feed_forward.3".
class TransformerBlockImpl : public torch::nn::Module {
 public:
  explicit TransformerBlockImpl(const TransformerSizes& sizes)
      : norm1_(register_module("norm1", torch::nn::LayerNorm(
                                            torch::nn::LayerNormOptions({sizes.width})))),
        attention_(register_module("attention",
                                   SelfAttention(sizes.width, sizes.heads, sizes.dropout))),
        norm2_(register_module("norm2", torch::nn::LayerNorm(
                                            torch::nn::LayerNormOptions({sizes.width})))),
        feed_forward_(register_module(
            "feed_forward",
            torch::nn::Sequential(torch::nn::Linear(sizes.width, sizes.hidden), torch::nn::GELU(),
                                  torch::nn::Dropout(sizes.dropout),
                                  torch::nn::Linear(sizes.hidden, sizes.width)))),
        dropout_(register_module("dropout", torch::nn::Dropout(sizes.dropout))) {}

  /// @return the taps of the block named `block` ("block1"), in the order forward() appends them.
  static std::vector<TapSpec> tap_specs(const std::string& block, TapLayout layout) {
    return {module_tap(block + ".norm1", layout),
            module_tap(block + ".attention.qkv", layout),
            {block + ".attention", layout, kEveryTapSet},
            module_tap(block + ".norm2", layout),
            module_tap(block + ".feed_forward.0", layout),
            {block + ".feed_forward", layout, kEveryTapSet}};
  }

  /// Appends the block's taps (tap_specs()) to `taps`.
  /// @param x float [B, L, D]; @param allowed see SelfAttentionImpl::forward
  /// @return the residual stream after the block, [B, L, D]
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& allowed,
                        std::vector<torch::Tensor>& taps) {
    auto normed = layer_norm(*norm1_, x);
    AttentionOutputs attention = attention_(normed, allowed);
    auto stream = x + dropout_(attention.out);
    auto normed_stream = layer_norm(*norm2_, stream);
    // The Sequential's layers one by one (it keeps the parameter names feed_forward.0.weight, ...),
    // so that its Linear layers go through linear() and the first one can be tapped.
    auto& layers = *feed_forward_;
    auto hidden = linear(layers.at<torch::nn::LinearImpl>(0), normed_stream);
    auto activated = layers.at<torch::nn::GELUImpl>(1).forward(hidden);
    auto feed_forward = linear(layers.at<torch::nn::LinearImpl>(3),
                               layers.at<torch::nn::DropoutImpl>(2).forward(activated));
    taps.insert(taps.end(), {normed, attention.qkv, attention.out, normed_stream, hidden,
                             feed_forward});
    return stream + dropout_(feed_forward);
  }

 private:
  torch::nn::LayerNorm norm1_;
  SelfAttention attention_;
  torch::nn::LayerNorm norm2_;
  torch::nn::Sequential feed_forward_;
  torch::nn::Dropout dropout_;
};
TORCH_MODULE(TransformerBlock);

/// Base of the networks built around a stack of transformer blocks (vit, transformer): registers
/// the blocks as "block1", "block2", ... and taps each as TransformerBlockImpl describes.
class TransformerBody : public Network {
 protected:
  explicit TransformerBody(const TransformerSizes& sizes) {
    for (int64_t i = 1; i <= sizes.depth; ++i) {
      blocks_.push_back(
          register_module("block" + std::to_string(i), TransformerBlock(sizes)));
    }
  }

  /// @return the taps of every block, in forward order, with the given layout.
  std::vector<TapSpec> taps_of_blocks(TapLayout layout) const {
    std::vector<TapSpec> specs;
    for (std::size_t i = 1; i <= blocks_.size(); ++i) {
      auto block = TransformerBlockImpl::tap_specs("block" + std::to_string(i), layout);
      specs.insert(specs.end(), block.begin(), block.end());
    }
    return specs;
  }

  /// Runs every block, appending its taps to `taps`.
  /// @return the residual stream after the last block, [B, L, D]
  torch::Tensor run_blocks(torch::Tensor x, const torch::Tensor& allowed,
                           std::vector<torch::Tensor>& taps) {
    for (auto& block : blocks_) x = block->forward(x, allowed, taps);
    return x;
  }

 private:
  std::vector<TransformerBlock> blocks_;
};

/// The fixed position encoding of "Attention Is All You Need", computed as the authors' released
/// `PositionalEncoding` does (rates exp(-ln(10000) · 2i / D)): sin(position · rate_i) on feature
/// 2i, cos on feature 2i + 1.
/// @return float [length, width]
inline torch::Tensor sinusoidal_positions(int64_t length, int64_t width) {
  auto position = torch::arange(length, torch::kLong).unsqueeze(1);
  auto rate = torch::exp(torch::arange(0, width, 2, torch::kLong).to(torch::kFloat) *
                         -(std::log(10000.0) / static_cast<double>(width)));
  auto angle = position * rate;
  auto table = torch::zeros({length, width});
  using torch::indexing::Slice;
  table.index_put_({Slice(), Slice(0, torch::indexing::None, 2)}, torch::sin(angle));
  table.index_put_({Slice(), Slice(1, torch::indexing::None, 2)},
                   torch::cos(angle.slice(1, 0, width / 2)));
  return table;
}

/// @return the mean of `x` [B, L, D] over the positions where `mask` [B, L] is true: [B, D] (zeros
/// for a sequence without any).
inline torch::Tensor masked_mean(const torch::Tensor& x, const torch::Tensor& mask) {
  auto weights = mask.to(x.scalar_type()).unsqueeze(-1);
  return (x * weights).sum(1) / weights.sum(1).clamp_min(1.0);
}

/// @return the parameters every transformer-based plugin shares (depth, width, heads, mlp_ratio
/// and dropout), bound to TransformerOptions; a plugin adds them with ParamTable::add_all.
inline const ParamTable<TransformerOptions>& transformer_params() {
  using Options = TransformerOptions;
  static const ParamTable<Options> table =
      ParamTable<Options>()
          .add("depth", &Options::depth, "number of transformer blocks")
          .between(1, 256)
          .add("width", &Options::width, "model width D (embedding size); divisible by heads")
          .between(1, 16384)
          .add("heads", &Options::heads, "attention heads per block")
          .between(1, 256)
          .add("mlp_ratio", &Options::mlp_ratio, "feed-forward hidden width as a multiple of width")
          .between(0.0, 64.0)
          .add("dropout", &Options::dropout, "dropout on attention weights and sublayer outputs")
          .between(0.0, 1.0);
  return table;
}

/// @return the block sizes `options` give (the feed-forward width is width x mlp_ratio, at
/// least 1).
/// @throws std::invalid_argument naming `plugin` when width is not divisible by heads.
inline TransformerSizes transformer_sizes(const std::string& plugin,
                                          const TransformerOptions& options) {
  TransformerSizes sizes;
  sizes.depth = options.depth;
  sizes.width = options.width;
  sizes.heads = options.heads;
  sizes.dropout = options.dropout;
  if (sizes.width % sizes.heads != 0) {
    throw std::invalid_argument(plugin + ": width " + std::to_string(sizes.width) +
                                " is not divisible by heads " + std::to_string(sizes.heads));
  }
  sizes.hidden = std::max<int64_t>(
      1, std::llround(static_cast<double>(sizes.width) * options.mlp_ratio));
  return sizes;
}

}  // namespace guidance::architecture
