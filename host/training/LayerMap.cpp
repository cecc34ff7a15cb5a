#include "host/training/LayerMap.h"

#include <algorithm>
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

}  // namespace

std::vector<size_t> mapped_taps(const std::vector<std::string>& chosen, TapSet set,
                                const std::vector<TapSpec>& taps, const char* side,
                                const std::string& location, const std::string& key) {
  std::vector<bool> keep(taps.size(), false);
  if (chosen.empty()) {
    for (size_t i = 0; i < taps.size(); ++i) keep[i] = taps[i].in(set);
  }
  for (const auto& name : chosen) keep[index_of(name, taps, side, location, key)] = true;
  std::vector<size_t> positions;
  for (size_t i = 0; i < taps.size(); ++i) {
    if (keep[i]) positions.push_back(i);
  }
  return positions;
}

std::vector<TapPair> uniform_layer_map(const std::vector<TapSpec>& guide_taps,
                                       const std::vector<TapSpec>& target_taps,
                                       UniformMapRule rule) {
  std::vector<TapPair> pairs;
  if (guide_taps.empty() || target_taps.empty()) return pairs;
  const size_t guides = guide_taps.size();
  const size_t targets = target_taps.size();
  const bool released = rule == UniformMapRule::Released;
  for (size_t i = 0; i < guides; ++i) {
    size_t target = released ? 0 : targets - 1;
    if (guides > 1) {
      double position = static_cast<double>(i) * static_cast<double>(targets - 1) /
                        static_cast<double>(guides - 1);
      target = std::min(static_cast<size_t>(std::nearbyint(position)), targets - 1);
    }
    // Released: a later guide tap on the same target tap replaces the earlier one, as the
    // authors' scores dict keyed by the target layer does.
    if (released && !pairs.empty() && pairs.back().target_index == target) pairs.pop_back();
    pairs.push_back({i, target, guide_taps[i].name, target_taps[target].name});
  }
  return pairs;
}

std::vector<TapPair> resolve_layer_map(const GuidanceSection& guidance,
                                       const std::vector<TapSpec>& guide_taps,
                                       const std::vector<TapSpec>& target_taps) {
  if (guidance.layer_map == LayerMapKind::Uniform) {
    std::vector<size_t> guides =
        mapped_taps(guidance.guide_taps, guidance.tap_set, guide_taps, "guide",
                    guidance.guide_taps_location, "guidance.guide_taps");
    std::vector<size_t> targets =
        mapped_taps(guidance.target_taps, guidance.tap_set, target_taps, "target",
                    guidance.target_taps_location, "guidance.target_taps");
    auto require_some = [&](const std::vector<size_t>& chosen,
                            const std::vector<TapSpec>& taps, const char* side) {
      if (!chosen.empty() || taps.empty()) return;
      throw ConfigError(guidance.tap_set_location + ": key 'guidance.tap_set': the " + side +
                        " has no tap in the set '" +
                        kTapSetNames[static_cast<size_t>(guidance.tap_set)] +
                        "'; its taps are " + quoted_list(names_of(taps)) +
                        " (choose another tap_set, or name taps in guidance." + side + "_taps)");
    };
    require_some(guides, guide_taps, "guide");
    require_some(targets, target_taps, "target");
    std::vector<TapSpec> guide_subset, target_subset;
    for (size_t i : guides) guide_subset.push_back(guide_taps[i]);
    for (size_t i : targets) target_subset.push_back(target_taps[i]);
    std::vector<TapPair> pairs =
        uniform_layer_map(guide_subset, target_subset, guidance.uniform_map);
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
