#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "guidance/api/Network.h"
#include "host/config/Config.h"

namespace guidance {

/// One aligned pair: guide tap `guide_index` is pulled toward by target tap `target_index`.
struct TapPair {
  size_t guide_index = 0;
  size_t target_index = 0;
  std::string guide_name;
  std::string target_name;

  /// @return "guide.<g>->target.<t>", the pair's column name in records.
  std::string label() const { return "guide." + guide_name + "->target." + target_name; }
};

/// The uniform map: guide tap i of G goes to target tap min(round(i·(T−1)/(G−1)), T−1), with
/// round-half-to-even as Python's round (std::nearbyint). Under UniformMapRule::Released (the
/// authors' code keeps one score per target tap) a single guide tap goes to the first target tap
/// and, where several guide taps land on one target tap, only the last of them is paired; under
/// AllPairs every guide tap is paired and a single guide tap goes to the last target tap.
/// @return the pairs in guide-tap order
std::vector<TapPair> uniform_layer_map(const std::vector<TapSpec>& guide_taps,
                                       const std::vector<TapSpec>& target_taps,
                                       UniformMapRule rule = UniformMapRule::Released);

/// @return the positions of the taps the uniform map runs over: those named by `chosen` (any
/// set) when it is non-empty, else every tap of `set`; in network order.
/// @throws ConfigError at `location` for a name that is not a tap, listing the taps that are.
std::vector<size_t> mapped_taps(const std::vector<std::string>& chosen, TapSet set,
                                const std::vector<TapSpec>& taps, const char* side,
                                const std::string& location, const std::string& key);

std::vector<TapPair> resolve_layer_map(const GuidanceSection& guidance,
                                       const std::vector<TapSpec>& guide_taps,
                                       const std::vector<TapSpec>& target_taps);

}  // namespace guidance
