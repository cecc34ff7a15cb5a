// The sequence transformers of the authors' released code (language_modeling/transformer.py):
// `Transformer` (variant "decoder"), `TransEnc` ("encoder") and `TransformerLM` ("lm"), with
// their module and parameter names and PyTorch 1.13's layer semantics, so that the module taps
// are the activations the released extractor hooks, in its order.
#include <cmath>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "guidance/api/ParamTable.h"
#include "guidance/api/PluginApi.h"
#include "plugins/architecture/common/Linear.h"
#include "plugins/architecture/common/Tasks.h"
#include "plugins/architecture/common/TransformerBody.h"

namespace guidance::architecture {
namespace {

constexpr const char* kName = "released-transformer";

// The plugin's parameters (released_transformer_params() declares each), with their defaults.
struct ReleasedSizes {
  std::string variant = "decoder";
  int64_t width = 512;
  int64_t heads = 16;
  int64_t layers = 4;
  int64_t feed_forward = 512;
  double dropout = 0.1;
};

// The additive mask of a causal self-attention: 0 where the key is not after the query, -inf
// after it (the released generate_square_subsequent_mask and TransformerLM's triu mask).
torch::Tensor causal_mask(int64_t length) {
  return torch::full({length, length}, -std::numeric_limits<float>::infinity()).triu(1);
}

// nn.MultiheadAttention as the released models use it (packed in-projection, no key/value
// biases, weights not returned): in_proj_weight/in_proj_bias, per-head
// softmax(q kᵀ / √head_width + mask) with dropout on the weights in training, then out_proj.
class AttentionImpl : public torch::nn::Module {
 public:
  AttentionImpl(int64_t width, int64_t heads, double dropout)
      : heads_(heads),
        dropout_(dropout),
        in_proj_(torch::nn::Linear(width, 3 * width)),
        out_proj_(register_module("out_proj", torch::nn::Linear(width, width))) {
    // PyTorch registers the packed in-projection's tensors on the attention itself. An
    // unregistered Linear holds the same two tensors so that the projection can go through
    // linear(); loading, moving and optimising parameters act on the tensors in place, so the two
    // handles never part.
    {
      torch::NoGradGuard no_grad;
      torch::nn::init::xavier_uniform_(in_proj_->weight);
      in_proj_->bias.zero_();
      out_proj_->bias.zero_();
    }
    register_parameter("in_proj_weight", in_proj_->weight);
    register_parameter("in_proj_bias", in_proj_->bias);
  }

  // query [B, L, D] attends over memory [B, S, D] (the query itself for self-attention); mask,
  // when defined, broadcasts to [B, heads, L, S] and is added to the scores.
  torch::Tensor forward(const torch::Tensor& query, const torch::Tensor& memory,
                        const torch::Tensor& mask) {
    const int64_t batch = query.size(0), length = query.size(1), width = query.size(2);
    const int64_t head_width = width / heads_;
    auto from_query = linear(*in_proj_, query).chunk(3, -1);
    auto from_memory =
        query.is_same(memory) ? from_query : linear(*in_proj_, memory).chunk(3, -1);
    // [B, S, D] -> [B, heads, S, head_width]
    auto split = [&](const torch::Tensor& x) {
      return x.view({x.size(0), x.size(1), heads_, head_width}).transpose(1, 2);
    };
    auto scores = torch::matmul(split(from_query[0]) / std::sqrt(static_cast<double>(head_width)),
                                split(from_memory[1]).transpose(-2, -1));
    if (mask.defined()) scores = scores + mask;
    auto weights = torch::dropout(torch::softmax(scores, -1), dropout_, is_training());
    auto mixed = torch::matmul(weights, split(from_memory[2]))
                     .transpose(1, 2)
                     .reshape({batch, length, width});
    return linear(*out_proj_, mixed);
  }

 private:
  int64_t heads_;
  double dropout_;
  torch::nn::Linear in_proj_;
  torch::nn::Linear out_proj_;
};
TORCH_MODULE(Attention);

// nn.TransformerEncoderLayer (cross_attention false) or nn.TransformerDecoderLayer (true) of
// PyTorch 1.13 with batch_first, ReLU and post-norm: each sublayer's output passes its dropout
// (dropout1, dropout2, ...), is added to the sublayer's input and normalised (norm1, norm2, ...).
// The sublayers are self_attn, [multihead_attn over the memory], linear1 → ReLU → dropout →
// linear2. Submodules are registered in PyTorch's order, so named_parameters() lists as it does.
class PostNormLayerImpl : public torch::nn::Module {
 public:
  PostNormLayerImpl(const ReleasedSizes& sizes, bool cross_attention)
      : self_attn_(register_module("self_attn",
                                   Attention(sizes.width, sizes.heads, sizes.dropout))) {
    if (cross_attention) {
      multihead_attn_ = register_module("multihead_attn",
                                        Attention(sizes.width, sizes.heads, sizes.dropout));
    }
    linear1_ = register_module("linear1", torch::nn::Linear(sizes.width, sizes.feed_forward));
    dropout_ = register_module("dropout", torch::nn::Dropout(sizes.dropout));
    linear2_ = register_module("linear2", torch::nn::Linear(sizes.feed_forward, sizes.width));
    const int sublayers = cross_attention ? 3 : 2;
    for (int i = 1; i <= sublayers; ++i) {
      norms_.push_back(register_module(
          "norm" + std::to_string(i),
          torch::nn::LayerNorm(torch::nn::LayerNormOptions({sizes.width}).eps(1e-5))));
    }
    for (int i = 1; i <= sublayers; ++i) {
      dropouts_.push_back(
          register_module("dropout" + std::to_string(i), torch::nn::Dropout(sizes.dropout)));
    }
  }

  // The hooked submodules, in the order forward() appends their outputs.
  std::vector<std::string> tap_names() const {
    std::vector<std::string> names{"self_attn", "norm1"};
    if (multihead_attn_) names.insert(names.end(), {"multihead_attn", "norm2"});
    names.insert(names.end(), {"linear1", "linear2", "norm" + std::to_string(norms_.size())});
    return names;
  }

  // x [B, L, D]; memory [B, S, D] for the cross-attention (unused by an encoder layer);
  // self_mask additive, broadcasting to [B, heads, L, L]. Appends the tap_names() outputs.
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& memory,
                        const torch::Tensor& self_mask, std::vector<torch::Tensor>& taps) {
    std::size_t sublayer = 0;
    auto add_and_norm = [&](const torch::Tensor& output) {
      taps.push_back(output);
      x = layer_norm(*norms_[sublayer], x + dropouts_[sublayer](output));
      taps.push_back(x);
      ++sublayer;
    };
    add_and_norm(self_attn_(x, x, self_mask));
    if (multihead_attn_) add_and_norm(multihead_attn_(x, memory, torch::Tensor()));
    auto hidden = linear(*linear1_, x);
    taps.push_back(hidden);
    add_and_norm(linear(*linear2_, dropout_(torch::relu(hidden))));
    return x;
  }

 private:
  Attention self_attn_;
  Attention multihead_attn_{nullptr};
  torch::nn::Linear linear1_{nullptr};
  torch::nn::Dropout dropout_{nullptr};
  torch::nn::Linear linear2_{nullptr};
  std::vector<torch::nn::LayerNorm> norms_;
  std::vector<torch::nn::Dropout> dropouts_;
};
TORCH_MODULE(PostNormLayer);

// The released PositionalEncoding: adds the sinusoidal table `pe` [1, rows, D], then dropout.
// The released table has 5000 rows; only the first max_length are ever read, so only those are
// kept (their values are the same).
class PositionalEncodingImpl : public torch::nn::Module {
 public:
  PositionalEncodingImpl(int64_t rows, int64_t width, double dropout)
      : pe_(register_buffer("pe", sinusoidal_positions(rows, width).unsqueeze(0))),
        dropout_(register_module("dropout", torch::nn::Dropout(dropout))) {}

  torch::Tensor forward(const torch::Tensor& x) {
    return dropout_(x + pe_.slice(1, 0, x.size(1)));
  }

 private:
  torch::Tensor pe_;
  torch::nn::Dropout dropout_;
};
TORCH_MODULE(PositionalEncoding);

// The taps of `layer` applied as application k of `group` ("decoder.0.self_attn", ...).
std::vector<TapSpec> application_taps(const std::string& group, int64_t k,
                                      const PostNormLayerImpl& layer) {
  std::vector<TapSpec> specs;
  const std::string prefix = group + "." + std::to_string(k);
  for (const auto& name : layer.tap_names()) {
    specs.push_back(module_tap(prefix + "." + name, TapLayout::Sequence));
  }
  return specs;
}

// Released `Transformer`, the copy-paste model: one decoder layer applied `layers` times as
// layer(x, x, causal mask), so its cross-attention reads the whole of its own input, later
// positions included, and padding (no mask) too.
class DecoderNetwork : public Network {
 public:
  DecoderNetwork(const TaskSpec& task, const ReleasedSizes& sizes)
      : task_(task),
        width_(sizes.width),
        layers_(sizes.layers),
        embed_(register_module("embed", torch::nn::Embedding(task.vocab_size, sizes.width))),
        pos_encoder_(register_module(
            "pos_encoder", PositionalEncoding(task.input_shape[0], sizes.width, sizes.dropout))),
        decoder_(register_module("decoder", PostNormLayer(sizes, /*cross_attention=*/true))),
        final_layer_(
            register_module("final_layer", torch::nn::Linear(sizes.width, task.num_outputs))) {
    for (int64_t k = 0; k < layers_; ++k) {
      auto layer = application_taps("decoder", k, *decoder_);
      taps_.insert(taps_.end(), layer.begin(), layer.end());
      taps_.push_back(module_tap("decoder." + std::to_string(k), TapLayout::Sequence));
    }
  }

  NetworkOutput forward(const NetworkInput& input) override {
    check_token_input(task_, input);
    NetworkOutput out;
    auto x = pos_encoder_(embed_(input.inputs) * std::sqrt(static_cast<double>(width_)));
    const auto mask = causal_mask(x.size(1)).to(x.options());
    for (int64_t k = 0; k < layers_; ++k) {
      x = decoder_(x, x, mask, out.taps);
      out.taps.push_back(x);
    }
    out.logits = linear(*final_layer_, x);
    return out;
  }

  std::vector<TapSpec> taps() const override { return taps_; }
  // Frozen forward passes are batch-invariant (common/Linear.h; BatchInvariance.* tests it).
  bool batch_invariant() const override { return true; }

 private:
  TaskSpec task_;
  int64_t width_;
  int64_t layers_;
  torch::nn::Embedding embed_;
  PositionalEncoding pos_encoder_;
  PostNormLayer decoder_;
  torch::nn::Linear final_layer_;
  std::vector<TapSpec> taps_;
};

// Released `TransEnc`, the parity transformer: one encoder layer applied `layers` times with the
// padding masked as keys, then the mean over real positions.
class EncoderNetwork : public Network {
 public:
  EncoderNetwork(const TaskSpec& task, const ReleasedSizes& sizes)
      : task_(task),
        layers_(sizes.layers),
        embedding_(
            register_module("embedding", torch::nn::Embedding(task.vocab_size, sizes.width))),
        pos_encoder_(register_module(
            "pos_encoder", PositionalEncoding(task.input_shape[0], sizes.width, sizes.dropout))),
        encoder_(register_module("encoder", PostNormLayer(sizes, /*cross_attention=*/false))),
        output_layer_(
            register_module("output_layer", torch::nn::Linear(sizes.width, task.num_outputs))) {
    for (int64_t k = 0; k < layers_; ++k) {
      auto layer = application_taps("encoder", k, *encoder_);
      taps_.insert(taps_.end(), layer.begin(), layer.end());
    }
  }

  NetworkOutput forward(const NetworkInput& input) override {
    check_token_input(task_, input);
    NetworkOutput out;
    auto x = pos_encoder_(embedding_(input.inputs));
    // src_key_padding_mask: padded keys get -inf, [B, 1, 1, L] against [B, heads, L, L].
    const auto padding = torch::zeros(input.mask.sizes(), x.options())
                             .masked_fill(input.mask.logical_not(),
                                          -std::numeric_limits<float>::infinity())
                             .unsqueeze(1)
                             .unsqueeze(1);
    for (int64_t k = 0; k < layers_; ++k) x = encoder_(x, x, padding, out.taps);
    out.logits = linear(*output_layer_, masked_mean(x, input.mask));
    return out;
  }

  std::vector<TapSpec> taps() const override { return taps_; }
  // Frozen forward passes are batch-invariant (common/Linear.h; BatchInvariance.* tests it).
  bool batch_invariant() const override { return true; }

 private:
  TaskSpec task_;
  int64_t layers_;
  torch::nn::Embedding embedding_;
  PositionalEncoding pos_encoder_;
  PostNormLayer encoder_;
  torch::nn::Linear output_layer_;
  std::vector<TapSpec> taps_;
};

// Released `TransformerLM`, the language model: learned positions and, per layer,
// h = LN1(h); h = h + dropout(attention(h, causal)); h = LN2(h); h = h + dropout(FF(h)) (the
// residuals add to the normalised stream). LayerNorm eps 1e-12; Linear, Embedding and LayerNorm
// weights N(0, 0.02) and their biases 0, the attention's in-projection keeps its own init.
class LanguageModelNetwork : public Network {
 public:
  LanguageModelNetwork(const TaskSpec& task, const ReleasedSizes& sizes)
      : task_(task),
        tokens_embeddings_(register_module(
            "tokens_embeddings", torch::nn::Embedding(task.vocab_size, sizes.width))),
        position_embeddings_(register_module(
            "position_embeddings", torch::nn::Embedding(task.input_shape[0], sizes.width))),
        dropout_(register_module("dropout", torch::nn::Dropout(sizes.dropout))) {
    auto attentions = register_module("attentions", torch::nn::ModuleList());
    auto feed_forwards = register_module("feed_forwards", torch::nn::ModuleList());
    auto layer_norms_1 = register_module("layer_norms_1", torch::nn::ModuleList());
    auto layer_norms_2 = register_module("layer_norms_2", torch::nn::ModuleList());
    const auto norm_options = torch::nn::LayerNormOptions({sizes.width}).eps(1e-12);
    for (int64_t i = 0; i < sizes.layers; ++i) {
      attentions_.push_back(Attention(sizes.width, sizes.heads, sizes.dropout));
      attentions->push_back(attentions_.back());
      feed_forwards_.push_back(torch::nn::Sequential(
          torch::nn::Linear(sizes.width, sizes.feed_forward), torch::nn::ReLU(),
          torch::nn::Linear(sizes.feed_forward, sizes.width)));
      feed_forwards->push_back(feed_forwards_.back());
      layer_norms_1_.push_back(torch::nn::LayerNorm(norm_options));
      layer_norms_1->push_back(layer_norms_1_.back());
      layer_norms_2_.push_back(torch::nn::LayerNorm(norm_options));
      layer_norms_2->push_back(layer_norms_2_.back());
      const std::string index = std::to_string(i);
      for (const auto& name : {"layer_norms_1." + index, "attentions." + index,
                               "layer_norms_2." + index, "feed_forwards." + index + ".0",
                               "feed_forwards." + index + ".2"}) {
        taps_.push_back(module_tap(name, TapLayout::Sequence));
      }
    }
    lm_head_ = register_module("lm_head", torch::nn::Linear(sizes.width, task.num_outputs));
    initialise();
  }

  NetworkOutput forward(const NetworkInput& input) override {
    check_token_input(task_, input);
    NetworkOutput out;
    const int64_t length = input.inputs.size(1);
    auto h = dropout_(tokens_embeddings_(input.inputs) +
                      position_embeddings_->weight.slice(0, 0, length));
    const auto mask = causal_mask(length).to(h.options());
    for (std::size_t i = 0; i < attentions_.size(); ++i) {
      auto normed = layer_norm(*layer_norms_1_[i], h);
      auto attended = attentions_[i](normed, normed, mask);
      auto normed_stream = layer_norm(*layer_norms_2_[i], normed + dropout_(attended));
      auto& feed_forward = *feed_forwards_[i];
      auto hidden = linear(feed_forward.at<torch::nn::LinearImpl>(0), normed_stream);
      auto fed = linear(feed_forward.at<torch::nn::LinearImpl>(2),
                        feed_forward.at<torch::nn::ReLUImpl>(1).forward(hidden));
      out.taps.insert(out.taps.end(), {normed, attended, normed_stream, hidden, fed});
      h = normed_stream + dropout_(fed);
    }
    out.logits = linear(*lm_head_, h);
    return out;
  }

  std::vector<TapSpec> taps() const override { return taps_; }
  // Frozen forward passes are batch-invariant (common/Linear.h; BatchInvariance.* tests it).
  bool batch_invariant() const override { return true; }

 private:
  void initialise() {
    torch::NoGradGuard no_grad;
    for (const auto& module : modules(/*include_self=*/false)) {
      if (auto* linear = module->as<torch::nn::LinearImpl>()) {
        linear->weight.normal_(0.0, 0.02);
        linear->bias.zero_();
      } else if (auto* embedding = module->as<torch::nn::EmbeddingImpl>()) {
        embedding->weight.normal_(0.0, 0.02);
      } else if (auto* norm = module->as<torch::nn::LayerNormImpl>()) {
        norm->weight.normal_(0.0, 0.02);
        norm->bias.zero_();
      }
    }
  }

  TaskSpec task_;
  torch::nn::Embedding tokens_embeddings_;
  torch::nn::Embedding position_embeddings_;
  torch::nn::Dropout dropout_;
  std::vector<Attention> attentions_;
  std::vector<torch::nn::Sequential> feed_forwards_;
  std::vector<torch::nn::LayerNorm> layer_norms_1_;
  std::vector<torch::nn::LayerNorm> layer_norms_2_;
  torch::nn::Linear lm_head_{nullptr};
  std::vector<TapSpec> taps_;
};

struct Variant {
  const char* name;
  TargetKind target_kind;
  std::shared_ptr<Network> (*build)(const TaskSpec&, const ReleasedSizes&);
};

template <typename N>
std::shared_ptr<Network> make(const TaskSpec& task, const ReleasedSizes& sizes) {
  return std::make_shared<N>(task, sizes);
}

const Variant kVariants[] = {
    {"decoder", TargetKind::TokenPerPosition, &make<DecoderNetwork>},
    {"encoder", TargetKind::Class, &make<EncoderNetwork>},
    {"lm", TargetKind::TokenPerPosition, &make<LanguageModelNetwork>},
};

const ParamTable<ReleasedSizes>& released_transformer_params() {
  static const ParamTable<ReleasedSizes> table = [] {
    std::vector<std::string> variants;
    for (const auto& variant : kVariants) variants.emplace_back(variant.name);
    return ParamTable<ReleasedSizes>()
        .add("variant", &ReleasedSizes::variant,
             "decoder: Transformer; encoder: TransEnc; lm: TransformerLM")
        .one_of(std::move(variants))
        .add("width", &ReleasedSizes::width, "model width d_model; divisible by heads")
        .between(1, 16384)
        .add("heads", &ReleasedSizes::heads, "attention heads")
        .between(1, 256)
        .add("layers", &ReleasedSizes::layers,
             "layer applications (decoder, encoder: of one shared layer) or layers (lm)")
        .between(1, 256)
        .add("feed_forward", &ReleasedSizes::feed_forward, "feed-forward hidden width")
        .between(1, 65536)
        .add("dropout", &ReleasedSizes::dropout, "dropout everywhere the released models drop")
        .between(0.0, 1.0);
  }();
  return table;
}

class ReleasedTransformerPlugin : public ArchitecturePlugin {
 public:
  PluginInfo info() const override {
    return {kName, "1.0.0",
            "the authors' released sequence transformers: Transformer (decoder, copy-paste), "
            "TransEnc (encoder, parity), TransformerLM (lm); module taps as their extractor "
            "hooks them",
            released_transformer_params().specs()};
  }

  std::shared_ptr<Network> build(const TaskSpec& task, const Params& params) const override {
    require_inputs(kName, task, InputKind::Tokens);
    const ReleasedSizes sizes = released_transformer_params().read(params);
    if (sizes.width % sizes.heads != 0) {
      throw std::invalid_argument(std::string(kName) + ": width " + std::to_string(sizes.width) +
                                  " is not divisible by heads " + std::to_string(sizes.heads));
    }
    const std::string& name = sizes.variant;
    for (const auto& variant : kVariants) {
      if (name != variant.name) continue;
      if (task.target_kind != variant.target_kind) {
        throw std::invalid_argument(
            std::string(kName) + ": variant '" + name + "' needs " +
            (variant.target_kind == TargetKind::Class ? "a class" : "a per-position") +
            " task, but task '" + task.name + "' is not one");
      }
      return variant.build(task, sizes);
    }
    throw std::invalid_argument(std::string(kName) + ": unknown variant '" + name + "'");
  }
};

}  // namespace
}  // namespace guidance::architecture

GUIDANCE_PLUGIN_LIBRARY(registry) {
  registry.add(std::make_shared<guidance::architecture::ReleasedTransformerPlugin>());
}
