#pragma once

#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>


namespace guidance::architecture {

/// The element-wise nonlinearities the image architectures offer.
enum class Activation { ReLU, GELU, Tanh, Sigmoid };

/// The `activation` parameter's doc and choices (ParamTable::add_choice), defaulting to "relu".
inline constexpr const char* kActivationDoc = "nonlinearity after each hidden layer";
inline std::vector<std::pair<std::string, Activation>> activation_choices() {
  return {{"relu", Activation::ReLU},
          {"gelu", Activation::GELU},
          {"tanh", Activation::Tanh},
          {"sigmoid", Activation::Sigmoid}};
}

/// @return `activation` applied to `x`.
inline torch::Tensor activate(Activation activation, const torch::Tensor& x) {
  switch (activation) {
    case Activation::ReLU: return torch::relu(x);
    case Activation::GELU: return torch::gelu(x);
    case Activation::Tanh: return torch::tanh(x);
    case Activation::Sigmoid: return torch::sigmoid(x);
  }
  throw std::logic_error("unhandled activation");
}

}  // namespace guidance::architecture
