#include "host/training/LayerMap.h"

#include <cmath>

#include "host/common/Errors.h"
#include "host/common/Suggest.h"

namespace guidance {

namespace {

std::vector<std::string> names_of(const std::vector<TapSpec>& taps) {
  std::vector<std::string> names;
  for (const auto& tap : taps) names.push_back(tap.name);
  return names;
}

size_t index_of(const std::string& name, const std::vector<TapSpec>& taps, const char* side,
                const std::string& location, const std::string& key = "guidance.layer_map") {
  for (size_t i = 0; i < taps.size(); ++i) {
    if (taps[i].name == name) return i;
  }
  std::vector<std::string> names = names_of(taps);
  throw ConfigError(location + ": key '" + key + "': the " + side + " has no tap '" + name +
                    "'" + did_you_mean(name, names) + "; its taps are " + quoted_list(names));
}

/// @return the positions of the chosen taps in network order (all taps when none are chosen).
std::vector<size_t> chosen_taps(const std::vector<std::string>& chosen,
                                const std::vector<TapSpec>& taps, const char* side,
                                const std::string& location, const std::string& key) {
  std::vector<size_t> positions;
  if (chosen.empty()) {
    for (size_t i = 0; i < taps.size(); ++i) positions.push_back(i);
    return positions;
  }
  std::vector<bool> keep(taps.size(), false);
  for (const auto& name : chosen) keep[index_of(name, taps, side, location, key)] = true;
  for (size_t i = 0; i < taps.size(); ++i) {
    if (keep[i]) positions.push_back(i);
  }
  return positions;
}

}  // namespace

std::vector<TapPair> uniform_layer_map(const std::vector<TapSpec>& guide_taps,
                                       const std::vector<TapSpec>& target_taps) {
  std::vector<TapPair> pairs;
  if (guide_taps.empty() || target_taps.empty()) return pairs;
  const size_t guides = guide_taps.size();
  const size_t targets = target_taps.size();
  for (size_t i = 0; i < guides; ++i) {
    size_t target = targets - 1;
    if (guides > 1) {
      double position = static_cast<double>(i) * static_cast<double>(targets - 1) /
                        static_cast<double>(guides - 1);
      target = static_cast<size_t>(std::nearbyint(position));
    }
    pairs.push_back({i, target, guide_taps[i].name, target_taps[target].name});
  }
  return pairs;
}

std::vector<TapPair> resolve_layer_map(const GuidanceSection& guidance,
                                       const std::vector<TapSpec>& guide_taps,
                                       const std::vector<TapSpec>& target_taps) {
  if (guidance.layer_map == LayerMapKind::Uniform) {
    std::vector<size_t> guides = chosen_taps(guidance.guide_taps, guide_taps, "guide",
                                             guidance.guide_taps_location, "guidance.guide_taps");
    std::vector<size_t> targets =
        chosen_taps(guidance.target_taps, target_taps, "target", guidance.target_taps_location,
                    "guidance.target_taps");
    std::vector<TapSpec> guide_subset, target_subset;
    for (size_t i : guides) guide_subset.push_back(guide_taps[i]);
    for (size_t i : targets) target_subset.push_back(target_taps[i]);
    std::vector<TapPair> pairs = uniform_layer_map(guide_subset, target_subset);
    for (auto& pair : pairs) {
      pair.guide_index = guides[pair.guide_index];
      pair.target_index = targets[pair.target_index];
    }
    return pairs;
  }
  std::vector<TapPair> pairs;
  for (const auto& pair : guidance.pairs) {
    size_t g = index_of(pair.guide_tap, guide_taps, "guide", guidance.layer_map_location);
    size_t t = index_of(pair.target_tap, target_taps, "target", guidance.layer_map_location);
    pairs.push_back({g, t, pair.guide_tap, pair.target_tap});
  }
  return pairs;
}

}  // namespace guidance
