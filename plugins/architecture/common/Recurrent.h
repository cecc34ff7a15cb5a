#pragma once

#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include <torch/torch.h>

#include "guidance/api/ParamTable.h"
#include "guidance/api/PluginApi.h"
#include "plugins/architecture/common/Linear.h"
#include "plugins/architecture/common/Tasks.h"

namespace guidance::architecture {

/// The sizes of a stacked recurrent network: RecurrentPlugin's parameters (recurrent_params()
/// declares each), with their defaults.
struct RecurrentSizes {
  int64_t layers = 2;      ///< stacked recurrent layers
  int64_t hidden = 64;     ///< hidden units per layer
  int64_t embedding = 32;  ///< token embedding size
  double dropout = 0.0;    ///< dropout between layers (not after the last), as torch applies it
};

/// @return the parameters of the `rnn` and `lstm` plugins, bound to RecurrentSizes.
inline const ParamTable<RecurrentSizes>& recurrent_params() {
  static const ParamTable<RecurrentSizes> table =
      ParamTable<RecurrentSizes>()
          .add("layers", &RecurrentSizes::layers, "stacked recurrent layers, each tapped")
          .between(1, 64)
          .add("hidden", &RecurrentSizes::hidden, "hidden units per layer")
          .between(1, 16384)
          .add("embedding", &RecurrentSizes::embedding, "token embedding size")
          .between(1, 16384)
          .add("dropout", &RecurrentSizes::dropout, "dropout between layers")
          .between(0.0, 1.0);
  return table;
}

/// Makes a batch-first recurrent module (make_elman_rnn, make_lstm) from input size to hidden size
/// with the given number of stacked layers.
template <typename Layer>
using RecurrentFactory = Layer (*)(int64_t input, int64_t hidden, int64_t layers);

/// @return a batch-first Elman RNN (tanh) from `input` to `hidden` features, `layers` deep.
inline torch::nn::RNN make_elman_rnn(int64_t input, int64_t hidden, int64_t layers) {
  return torch::nn::RNN(torch::nn::RNNOptions(input, hidden)
                            .num_layers(layers)
                            .nonlinearity(torch::kTanh)
                            .batch_first(true));
}

/// @return a batch-first LSTM from `input` to `hidden` features, `layers` deep.
inline torch::nn::LSTM make_lstm(int64_t input, int64_t hidden, int64_t layers) {
  return torch::nn::LSTM(
      torch::nn::LSTMOptions(input, hidden).num_layers(layers).batch_first(true));
}

/// @return for each sequence of `hidden` [B, L, H], its vector at the last position where `mask`
/// [B, L] is true (position 0 for a sequence without any): [B, H].
inline torch::Tensor at_last_valid(const torch::Tensor& hidden, const torch::Tensor& mask) {
  auto positions = torch::arange(mask.size(1), mask.options().dtype(torch::kLong));
  auto last = (mask.to(torch::kLong) * positions).amax(1);
  return hidden.index({torch::arange(hidden.size(0), last.options()), last});
}

/// A token embedding, a stack of single-layer recurrent modules (one per layer, so every layer's
/// outputs can be tapped) and a linear head: per position for TokenPerPosition tasks, on the last
/// valid position for Class tasks. `Layer` is torch::nn::RNN or torch::nn::LSTM.
/// Taps: "layer1", "layer2", ...: each layer's outputs [B, L, H], TapLayout::Sequence, in both
/// tap sets (the output sequence of an RNN/LSTM module, which the released extractor hooks, is
/// also the block's output).
template <typename Layer>
class RecurrentNetwork : public Network {
 public:
  RecurrentNetwork(const TaskSpec& task, const RecurrentSizes& sizes,
                   RecurrentFactory<Layer> make_layer)
      : task_(task),
        embedding_(register_module("embedding",
                                   torch::nn::Embedding(task.vocab_size, sizes.embedding))),
        dropout_(register_module("dropout", torch::nn::Dropout(sizes.dropout))) {
    int64_t input = sizes.embedding;
    for (int64_t i = 1; i <= sizes.layers; ++i) {
      const std::string name = "layer" + std::to_string(i);
      layers_.push_back(register_module(name, make_layer(input, sizes.hidden, 1)));
      taps_.push_back({name, TapLayout::Sequence, kEveryTapSet});
      input = sizes.hidden;
    }
    head_ = register_module("head", torch::nn::Linear(sizes.hidden, task.num_outputs));
  }

  NetworkOutput forward(const NetworkInput& input) override {
    check_token_input(task_, input);
    NetworkOutput out;
    torch::Tensor x = embedding_(input.inputs);
    for (std::size_t i = 0; i < layers_.size(); ++i) {
      torch::Tensor hidden = std::get<0>(layers_[i]->forward(x));
      out.taps.push_back(hidden);
      x = i + 1 < layers_.size() ? dropout_(hidden) : hidden;
    }
    out.logits = linear(*head_, task_.target_kind == TargetKind::TokenPerPosition
                                    ? x
                                    : at_last_valid(x, input.mask));
    return out;
  }

  std::vector<TapSpec> taps() const override { return taps_; }

 private:
  TaskSpec task_;
  torch::nn::Embedding embedding_;
  torch::nn::Dropout dropout_;
  std::vector<Layer> layers_;
  torch::nn::Linear head_{nullptr};
  std::vector<TapSpec> taps_;
};

/// An architecture plugin building RecurrentNetwork<Layer>; the `rnn` and `lstm` plugins are
/// instances that differ in name, summary and layer factory.
template <typename Layer>
class RecurrentPlugin : public ArchitecturePlugin {
 public:
  RecurrentPlugin(std::string name, std::string summary,
                  RecurrentFactory<Layer> make_layer)
      : name_(std::move(name)), summary_(std::move(summary)), make_layer_(make_layer) {}

  PluginInfo info() const override {
    return {name_, "1.0.0", summary_, recurrent_params().specs()};
  }

  std::shared_ptr<Network> build(const TaskSpec& task, const Params& params) const override {
    require_inputs(name_, task, InputKind::Tokens);
    return std::make_shared<RecurrentNetwork<Layer>>(task, recurrent_params().read(params),
                                                     make_layer_);
  }

 private:
  std::string name_;
  std::string summary_;
  RecurrentFactory<Layer> make_layer_;
};

}  // namespace guidance::architecture
