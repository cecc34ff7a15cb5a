#include "guidance/api/PluginApi.h"
#include "plugins/architecture/common/Recurrent.h"

namespace {

torch::nn::RNN elman_layer(int64_t input, int64_t hidden) {
  return torch::nn::RNN(
      torch::nn::RNNOptions(input, hidden).nonlinearity(torch::kTanh).batch_first(true));
}

}  // namespace

GUIDANCE_PLUGIN_LIBRARY(registry) {
  registry.add(std::make_shared<guidance::architecture::RecurrentPlugin<torch::nn::RNN>>(
      "rnn", "stacked Elman RNN (tanh) over token embeddings; taps every layer", &elman_layer));
}
