#pragma once

#include <cstdint>

#include "guidance/api/Dataset.h"

namespace guidance::datasets {

/// The SplitMix64 finaliser: a bijective mix of 64 bits, so distinct inputs stay distinct.
constexpr uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

/// Streams that keep the random choices of one purpose independent of every other.
namespace streams {
inline constexpr uint64_t kValidationCarve = 0x76616c6964ull;  ///< carving validation from train
inline constexpr uint64_t kTrainSubset = 0x737562736574ull;    ///< choosing train_subset examples
inline constexpr uint64_t kTestCarve = 0x74657374ull;          ///< carving test from a flat folder

/// @return the stream of the generated examples of a split.
constexpr uint64_t of(Split split) { return 1 + static_cast<uint64_t>(split); }
}  // namespace streams

/// A deterministic random generator (SplitMix64) whose sequence is fixed by (seed, stream, index).
/// Generated datasets draw example `i` of split `s` from `ExampleRng(seed, streams::of(s), i)`, so
/// any example can be produced on its own, in any order, always the same.
class ExampleRng {
 public:
  ExampleRng(uint64_t seed, uint64_t stream, uint64_t index)
      : state_(mix64(mix64(mix64(seed) ^ stream) ^ index)) {}

  /// @return the next 64 random bits.
  uint64_t next() {
    state_ += 0x9E3779B97F4A7C15ull;
    uint64_t z = state_;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

  /// @return a uniform integer in [0, bound); `bound` must be positive.
  uint64_t below(uint64_t bound) {
    // Lemire's multiply-shift, rejecting the few products that would bias small values.
    unsigned __int128 product = static_cast<unsigned __int128>(next()) * bound;
    uint64_t low = static_cast<uint64_t>(product);
    if (low < bound) {
      const uint64_t threshold = (0 - bound) % bound;
      while (low < threshold) {
        product = static_cast<unsigned __int128>(next()) * bound;
        low = static_cast<uint64_t>(product);
      }
    }
    return static_cast<uint64_t>(product >> 64);
  }

  /// @return a uniform integer in [low, high]; requires low <= high.
  int64_t between(int64_t low, int64_t high) {
    return low + static_cast<int64_t>(below(static_cast<uint64_t>(high - low) + 1));
  }

 private:
  uint64_t state_;
};

}  // namespace guidance::datasets
