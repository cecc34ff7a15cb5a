#pragma once

#include <array>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "guidance/api/Params.h"

namespace guidance::architecture {

/// The element-wise nonlinearities the image architectures offer.
enum class Activation { ReLU, GELU, Tanh, Sigmoid };

inline constexpr std::array<std::pair<const char*, Activation>, 4> kActivations{{
    {"relu", Activation::ReLU},
    {"gelu", Activation::GELU},
    {"tanh", Activation::Tanh},
    {"sigmoid", Activation::Sigmoid},
}};

/// @return the schema entry `activation`, a choice among kActivations, defaulting to "relu".
inline ParamSpec activation_param() {
  std::vector<std::string> names;
  for (const auto& [name, activation] : kActivations) names.emplace_back(name);
  return ParamSpec::string("activation", "relu", "nonlinearity after each hidden layer")
      .one_of(std::move(names));
}

/// @return the activation named `name`; throws std::invalid_argument listing the choices.
inline Activation parse_activation(const std::string& name) {
  std::string known;
  for (const auto& [choice, activation] : kActivations) {
    if (name == choice) return activation;
    known += std::string(known.empty() ? "" : ", ") + choice;
  }
  throw std::invalid_argument("activation '" + name + "' is not one of " + known);
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
