#pragma once

#include "guidance/api/Visibility.h"

#include <string>
#include <utility>
#include <vector>

#include <torch/nn/module.h>
#include <torch/types.h>

namespace guidance {

/// How a tap's activations are laid out, which decides how guidance compares them.
enum class TapLayout {
  Flat,      ///< [batch, ...]: flattened to [batch, features] and compared over the batch
  Sequence,  ///< [batch, length, features]: may be compared position by position (masked)
};

/// The tap sets a network offers; `guidance.tap_set` picks the one the layer map runs over.
enum class TapSet : unsigned {
  /// The output of every module the authors' released extractor hooks (`Linear`, `Conv2d`,
  /// `AdaptiveAvgPool2d`, `RNN`/`LSTM`, `LayerNorm`, `MultiheadAttention`,
  /// `TransformerDecoderLayer`), in call order, before normalisation and activation; the head
  /// (the last such module) excluded.
  Modules = 0,
  /// One tap per block, after its normalisation and activation (the workbench's earlier taps).
  Blocks = 1,
};

/// @return the bit of `set` in TapSpec::sets.
constexpr unsigned tap_set_bit(TapSet set) { return 1u << static_cast<unsigned>(set); }

/// Both sets: what a tap belongs to when its network makes no distinction (TorchScript files,
/// plugins that declare nothing).
inline constexpr unsigned kEveryTapSet = tap_set_bit(TapSet::Modules) | tap_set_bit(TapSet::Blocks);

/// A named intermediate activation that guidance may align.
struct TapSpec {
  std::string name;  ///< stable, unique within the network, e.g. "layer2.0.conv1"
  TapLayout layout = TapLayout::Flat;
  unsigned sets = kEveryTapSet;  ///< bitwise OR of tap_set_bit() of the sets it belongs to

  /// @return true when this tap belongs to `set`.
  bool in(TapSet set) const { return (sets & tap_set_bit(set)) != 0; }
};

/// @return a tap of only the module set (see TapSet::Modules).
inline TapSpec module_tap(std::string name, TapLayout layout = TapLayout::Flat) {
  return {std::move(name), layout, tap_set_bit(TapSet::Modules)};
}

/// @return a tap of only the block set (see TapSet::Blocks).
inline TapSpec block_tap(std::string name, TapLayout layout = TapLayout::Flat) {
  return {std::move(name), layout, tap_set_bit(TapSet::Blocks)};
}

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

  /// @return true when a forward pass in eval mode without autograd, on a CPU, in float32 and
  /// under bf16 autocast, gives an example the same logits and taps bit for bit whatever batch
  /// of one size it sits in and at whatever row. The guide-tap cache turns itself on by default
  /// only for guides that declare it (cached outputs then equal fresh ones exactly);
  /// `guidance plugins test` checks the declaration.
  virtual bool batch_invariant() const { return false; }
};

}  // namespace guidance
