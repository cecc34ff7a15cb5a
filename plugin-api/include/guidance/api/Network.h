#pragma once

#include "guidance/api/Visibility.h"

#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/types.h>

namespace guidance {

/// How a tap's activations are laid out, which decides how guidance compares them.
enum class TapLayout {
  Flat,      ///< [batch, ...]: flattened to [batch, features] and compared over the batch
  Sequence,  ///< [batch, length, features]: may be compared position by position (masked)
};

/// A named intermediate activation that guidance may align.
struct TapSpec {
  std::string name;  ///< stable, unique within the network, e.g. "block3.attention"
  TapLayout layout = TapLayout::Flat;
};

/// A batch of network inputs.
struct NetworkInput {
  torch::Tensor inputs;  ///< Image: float [B, C, H, W]; Tokens: int64 [B, L]
  torch::Tensor mask;    ///< Tokens only: bool [B, L], true on real (non-padding) positions
};

/// What a forward pass returns: the logits and every tap, in the order of Network::taps().
struct NetworkOutput {
  torch::Tensor logits;
  std::vector<torch::Tensor> taps;
};

/// A network built by an architecture plugin. LibTorch has no forward hooks, so a network returns
/// its taps explicitly; their names are known before the first forward.
///
/// Subclasses register submodules under stable names so checkpoints and taps can name them.
class GUIDANCE_API Network : public torch::nn::Module {
 public:
  using torch::nn::Module::Module;
  ~Network() override = default;

  /// @return logits and the activations of every tap, in the order of taps().
  virtual NetworkOutput forward(const NetworkInput& input) = 0;

  /// @return the taps this network exposes, from input side to output side.
  virtual std::vector<TapSpec> taps() const = 0;
};

}  // namespace guidance
