#include "guidance/api/PluginApi.h"
#include "plugins/architecture/common/Recurrent.h"

GUIDANCE_PLUGIN_LIBRARY(registry) {
  registry.add(std::make_shared<guidance::architecture::RecurrentPlugin<torch::nn::LSTM>>(
      "lstm", "stacked LSTM over token embeddings; taps every layer",
      &guidance::architecture::make_lstm));
}
