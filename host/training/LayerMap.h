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

/// The paper's uniform map: guide tap i of G goes to target tap round(i·(T−1)/(G−1)), with
/// round-half-to-even as Python's round (std::nearbyint). When G > T several guide taps share a
/// target tap; G = 1 maps to the target's last tap.
std::vector<TapPair> uniform_layer_map(const std::vector<TapSpec>& guide_taps,
                                       const std::vector<TapSpec>& target_taps);

/// Resolves the configured layer map against the networks' taps: explicit pairs as listed, or the
/// uniform map over the taps chosen by `guidance.guide_taps` / `guidance.target_taps` (all taps
/// of a side when its list is empty; chosen taps keep their network order, and their indices in
/// the result are those of the whole network). Throws ConfigError at the key's location for a tap
/// name that does not exist, listing the taps that do.
std::vector<TapPair> resolve_layer_map(const GuidanceSection& guidance,
                                       const std::vector<TapSpec>& guide_taps,
                                       const std::vector<TapSpec>& target_taps);

}  // namespace guidance
