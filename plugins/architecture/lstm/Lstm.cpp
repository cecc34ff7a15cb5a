#include "guidance/api/PluginApi.h"
#include "plugins/architecture/common/Recurrent.h"

namespace {

torch::nn::LSTM lstm_layer(int64_t input, int64_t hidden) {
  return torch::nn::LSTM(torch::nn::LSTMOptions(input, hidden).batch_first(true));
}

}  // namespace

GUIDANCE_PLUGIN_LIBRARY(registry) {
  registry.add(std::make_shared<guidance::architecture::RecurrentPlugin<torch::nn::LSTM>>(
      "lstm", "stacked LSTM over token embeddings; taps every layer", &lstm_layer));
}
