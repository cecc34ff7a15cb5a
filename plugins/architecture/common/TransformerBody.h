#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "guidance/api/PluginApi.h"
#include "plugins/architecture/common/Linear.h"

namespace guidance::architecture {

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
  /// @return float [B, L, D]
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& allowed) {
    const int64_t batch = x.size(0), length = x.size(1), width = x.size(2);
    // [B, L, 3, heads, head_width] -> three [B, heads, L, head_width]
    auto qkv = linear(*qkv_, x)
                   .view({batch, length, 3, heads_, width / heads_})
                   .permute({2, 0, 3, 1, 4});
    torch::Tensor query = qkv[0], key = qkv[1], value = qkv[2];
    auto scores = torch::matmul(query, key.transpose(-2, -1)) /
                  std::sqrt(static_cast<double>(width / heads_));
    scores = scores.masked_fill(allowed.unsqueeze(1).logical_not(),
                                -std::numeric_limits<float>::infinity());
    auto weights = dropout_(torch::softmax(scores, -1));
    auto mixed = torch::matmul(weights, value).transpose(1, 2).reshape({batch, length, width});
    return linear(*out_, mixed);
  }

 private:
  int64_t heads_;
  torch::nn::Linear qkv_;
  torch::nn::Linear out_;
  torch::nn::Dropout dropout_;
};
TORCH_MODULE(SelfAttention);

/// The sizes of a stack of pre-norm transformer blocks, filled by transformer_sizes() from
/// validated transformer_params() (which hold the defaults).
struct TransformerSizes {
  int64_t depth;    ///< number of blocks
  int64_t width;    ///< model width D
  int64_t heads;    ///< attention heads; must divide width
  int64_t hidden;   ///< feed-forward hidden width
  double dropout;   ///< dropout on attention weights and sublayer outputs
};

/// What one block computed: its two sublayer outputs (the taps) and the updated stream.
struct BlockOutputs {
  torch::Tensor attention;     ///< [B, L, D], before the residual addition
  torch::Tensor feed_forward;  ///< [B, L, D], before the residual addition
  torch::Tensor stream;        ///< [B, L, D], the residual stream after the block
};

/// A pre-norm transformer block: x + attention(norm1(x)), then x + feed_forward(norm2(x)).
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

  /// @param x float [B, L, D]; @param allowed see SelfAttentionImpl::forward
  BlockOutputs forward(const torch::Tensor& x, const torch::Tensor& allowed) {
    BlockOutputs out;
    out.attention = attention_(norm1_(x), allowed);
    auto stream = x + dropout_(out.attention);
    // The Sequential's layers one by one (it keeps the parameter names feed_forward.0.weight, ...),
    // so that its Linear layers go through linear().
    auto& layers = *feed_forward_;
    auto hidden = layers.at<torch::nn::GELUImpl>(1).forward(
        linear(layers.at<torch::nn::LinearImpl>(0), norm2_(stream)));
    out.feed_forward = linear(layers.at<torch::nn::LinearImpl>(3),
                              layers.at<torch::nn::DropoutImpl>(2).forward(hidden));
    out.stream = stream + dropout_(out.feed_forward);
    return out;
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
/// the blocks as "block1", "block2", ... and taps each block's attention and feed-forward output
/// as "blockN.attention" and "blockN.feed_forward".
class TransformerBody : public Network {
 protected:
  explicit TransformerBody(const TransformerSizes& sizes) {
    for (int64_t i = 1; i <= sizes.depth; ++i) {
      blocks_.push_back(
          register_module("block" + std::to_string(i), TransformerBlock(sizes)));
    }
  }

  /// @return the block taps, in forward order, with the given layout.
  std::vector<TapSpec> block_taps(TapLayout layout) const {
    std::vector<TapSpec> specs;
    for (std::size_t i = 1; i <= blocks_.size(); ++i) {
      const std::string block = "block" + std::to_string(i);
      specs.push_back({block + ".attention", layout});
      specs.push_back({block + ".feed_forward", layout});
    }
    return specs;
  }

  /// Runs every block, appending its two taps to `taps`.
  /// @return the residual stream after the last block, [B, L, D]
  torch::Tensor run_blocks(torch::Tensor x, const torch::Tensor& allowed,
                           std::vector<torch::Tensor>& taps) {
    for (auto& block : blocks_) {
      BlockOutputs out = block->forward(x, allowed);
      taps.push_back(out.attention);
      taps.push_back(out.feed_forward);
      x = out.stream;
    }
    return x;
  }

 private:
  std::vector<TransformerBlock> blocks_;
};

/// @return the schema entries every transformer-based plugin shares: depth, width, heads,
/// mlp_ratio and dropout, with small defaults that run on a CPU in seconds.
inline std::vector<ParamSpec> transformer_params() {
  return {
      ParamSpec::integer("depth", 2, "number of transformer blocks").between(1, 256),
      ParamSpec::integer("width", 32, "model width D (embedding size); divisible by heads")
          .between(1, 16384),
      ParamSpec::integer("heads", 2, "attention heads per block").between(1, 256),
      ParamSpec::real("mlp_ratio", 2.0, "feed-forward hidden width as a multiple of width")
          .between(0.0, 64.0),
      ParamSpec::real("dropout", 0.0, "dropout on attention weights and sublayer outputs")
          .between(0.0, 1.0),
  };
}

/// Reads the entries of transformer_params().
/// @throws std::invalid_argument naming `plugin` when width is not divisible by heads.
inline TransformerSizes transformer_sizes(const std::string& plugin, const Params& params) {
  TransformerSizes sizes;
  sizes.depth = params.integer("depth");
  sizes.width = params.integer("width");
  sizes.heads = params.integer("heads");
  sizes.dropout = params.real("dropout");
  if (sizes.width % sizes.heads != 0) {
    throw std::invalid_argument(plugin + ": width " + std::to_string(sizes.width) +
                                " is not divisible by heads " + std::to_string(sizes.heads));
  }
  sizes.hidden = std::max<int64_t>(
      1, std::llround(static_cast<double>(sizes.width) * params.real("mlp_ratio")));
  return sizes;
}

}  // namespace guidance::architecture
