// The recurrent networks of the authors' released code (language_modeling/rnn_models.py): `RNNLM`
// (variant "lm", copy-paste and language modelling) and `ParityRNN` ("parity"), with their module
// and parameter names, so that the module taps are the activations the released extractor hooks.
#include <memory>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "guidance/api/ParamTable.h"
#include "guidance/api/PluginApi.h"
#include "plugins/architecture/common/Linear.h"
#include "plugins/architecture/common/Recurrent.h"
#include "plugins/architecture/common/Tasks.h"

namespace guidance::architecture {
namespace {

constexpr const char* kName = "released-rnn";

// The plugin's parameters (released_rnn_params() declares each), with their defaults.
struct ReleasedRecurrentSizes {
  std::string variant = "lm";
  std::string cell = "rnn";
  int64_t embedding = 256;
  int64_t hidden = 512;
  int64_t layers = 4;
};

const ParamTable<ReleasedRecurrentSizes>& released_rnn_params() {
  using Sizes = ReleasedRecurrentSizes;
  static const ParamTable<Sizes> table =
      ParamTable<Sizes>()
          .add("variant", &Sizes::variant, "lm: RNNLM; parity: ParityRNN")
          .one_of({"lm", "parity"})
          .add("cell", &Sizes::cell, "rnn: Elman (tanh), as ParityRNN always is; lstm: LSTM")
          .one_of({"rnn", "lstm"})
          .add("embedding", &Sizes::embedding,
               "token embedding size (lm; parity embeds into vocab_size features, as released)")
          .between(1, 16384)
          .add("hidden", &Sizes::hidden, "hidden units per layer")
          .between(1, 16384)
          .add("layers", &Sizes::layers, "recurrent layers")
          .between(1, 64);
  return table;
}

// Released `RNNLM`: `layers` single-layer modules rnn.0, rnn.1, ...; the final state of each
// (hidden, and cell for an LSTM) is the initial state of the next (the released forward threads
// one `hidden` through its loop), so from the second layer on a position's output depends on the
// whole sequence before the layer, padding included. fc1 gives per-position logits.
template <typename Layer>
class LanguageModelNetwork : public Network {
 public:
  LanguageModelNetwork(const TaskSpec& task, const ReleasedRecurrentSizes& sizes,
                       RecurrentFactory<Layer> make_layer)
      : task_(task),
        embedding_(register_module("embedding",
                                   torch::nn::Embedding(task.vocab_size, sizes.embedding))) {
    auto rnn = register_module("rnn", torch::nn::ModuleList());
    for (int64_t i = 0; i < sizes.layers; ++i) {
      layers_.push_back(make_layer(i == 0 ? sizes.embedding : sizes.hidden, sizes.hidden, 1));
      rnn->push_back(layers_.back());
      taps_.push_back(module_tap("rnn." + std::to_string(i), TapLayout::Sequence));
    }
    fc1_ = register_module("fc1", torch::nn::Linear(sizes.hidden, task.num_outputs));
  }

  NetworkOutput forward(const NetworkInput& input) override {
    check_token_input(task_, input);
    NetworkOutput out;
    auto result = layers_.front()->forward(embedding_(input.inputs));
    out.taps.push_back(std::get<0>(result));
    for (std::size_t i = 1; i < layers_.size(); ++i) {
      result = layers_[i]->forward(std::get<0>(result), std::get<1>(result));
      out.taps.push_back(std::get<0>(result));
    }
    out.logits = linear(*fc1_, std::get<0>(result));
    return out;
  }

  std::vector<TapSpec> taps() const override { return taps_; }

 private:
  TaskSpec task_;
  torch::nn::Embedding embedding_;
  std::vector<Layer> layers_;
  torch::nn::Linear fc1_{nullptr};
  std::vector<TapSpec> taps_;
};

// Released `ParityRNN`: a vocab-sized embedding, one `layers`-deep module `lstm` (an nn.RNN in
// the released code, despite its name) run on the sequences packed by their lengths, so each
// sequence stops at its length: its outputs past it are zero, and the state read at position
// length - 1 feeds fc through a ReLU.
template <typename Layer>
class ParityNetwork : public Network {
 public:
  ParityNetwork(const TaskSpec& task, const ReleasedRecurrentSizes& sizes,
                RecurrentFactory<Layer> make_layer)
      : task_(task),
        embedding_(register_module("embedding",
                                   torch::nn::Embedding(task.vocab_size, task.vocab_size))),
        lstm_(register_module("lstm", make_layer(task.vocab_size, sizes.hidden, sizes.layers))),
        fc_(register_module("fc", torch::nn::Linear(sizes.hidden, task.num_outputs))) {}

  NetworkOutput forward(const NetworkInput& input) override {
    check_token_input(task_, input);
    const auto lengths = input.mask.sum(1).to(torch::kLong);
    TORCH_CHECK(lengths.numel() == 0 || lengths.min().item<int64_t>() > 0,
                kName, " (parity) needs at least one real token per sequence");
    namespace rnn = torch::nn::utils::rnn;
    auto packed = rnn::pack_padded_sequence(embedding_(input.inputs), lengths.cpu(),
                                            /*batch_first=*/true, /*enforce_sorted=*/false);
    auto outputs = std::get<0>(rnn::pad_packed_sequence(
        std::get<0>(lstm_->forward_with_packed_input(packed)), /*batch_first=*/true,
        /*padding_value=*/0.0, /*total_length=*/input.inputs.size(1)));
    NetworkOutput out;
    out.taps.push_back(outputs);
    auto last = outputs.index({torch::arange(outputs.size(0), lengths.options()), lengths - 1});
    out.logits = linear(*fc_, torch::relu(last));
    return out;
  }

  std::vector<TapSpec> taps() const override {
    return {module_tap("lstm", TapLayout::Sequence)};
  }

 private:
  TaskSpec task_;
  torch::nn::Embedding embedding_;
  Layer lstm_;
  torch::nn::Linear fc_;
};

template <template <typename> class N>
std::shared_ptr<Network> build_with_cell(const std::string& cell, const TaskSpec& task,
                                         const ReleasedRecurrentSizes& sizes) {
  if (cell == "lstm") return std::make_shared<N<torch::nn::LSTM>>(task, sizes, &make_lstm);
  return std::make_shared<N<torch::nn::RNN>>(task, sizes, &make_elman_rnn);
}

class ReleasedRnnPlugin : public ArchitecturePlugin {
 public:
  PluginInfo info() const override {
    return {kName, "1.0.0",
            "the authors' released recurrent networks: RNNLM (lm, per position; each layer "
            "starts from the previous one's final state) and ParityRNN (parity, packed by "
            "length); module taps as their extractor hooks them",
            released_rnn_params().specs()};
  }

  std::shared_ptr<Network> build(const TaskSpec& task, const Params& params) const override {
    require_inputs(kName, task, InputKind::Tokens);
    const ReleasedRecurrentSizes sizes = released_rnn_params().read(params);
    const std::string& variant = sizes.variant;
    const bool parity = variant == "parity";
    if (task.target_kind != (parity ? TargetKind::Class : TargetKind::TokenPerPosition)) {
      throw std::invalid_argument(std::string(kName) + ": variant '" + variant + "' needs " +
                                  (parity ? "a class" : "a per-position") + " task, but task '" +
                                  task.name + "' is not one");
    }
    return parity ? build_with_cell<ParityNetwork>(sizes.cell, task, sizes)
                  : build_with_cell<LanguageModelNetwork>(sizes.cell, task, sizes);
  }
};

}  // namespace
}  // namespace guidance::architecture

GUIDANCE_PLUGIN_LIBRARY(registry) {
  registry.add(std::make_shared<guidance::architecture::ReleasedRnnPlugin>());
}
