#include "analysis/Cells.h"

#include <toml++/toml.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <set>
#include <sstream>

#include "analysis/SummaryText.h"
#include "analysis/Table.h"
#include "host/common/Errors.h"
#include "host/common/Suggest.h"
#include "host/config/ConfigKeys.h"

namespace guidance::analysis {

namespace fs = std::filesystem;

namespace {

// Keys that name a run rather than set it up: never study axes.
const std::set<std::string> kIdentityKeys = {"run.name", "run.seed"};

void flatten(const toml::table& table, const std::string& prefix,
             std::map<std::string, std::string>& out) {
  for (const auto& [key, node] : table) {
    std::string path =
        prefix.empty() ? std::string(key.str()) : prefix + "." + std::string(key.str());
    if (const toml::table* inner = node.as_table()) {
      flatten(*inner, path, out);
    } else if (const auto* text = node.as_string()) {
      out[path] = text->get();
    } else {
      std::ostringstream value;
      if (const toml::array* array = node.as_array()) {
        value << *array;
      } else if (const auto* real = node.as_floating_point()) {
        value << format_number(real->get());
      } else if (const auto* integer = node.as_integer()) {
        value << integer->get();
      } else if (const auto* boolean = node.as_boolean()) {
        value << (boolean->get() ? "true" : "false");
      } else {
        value << toml::node_view<const toml::node>(node);
      }
      out[path] = value.str();
    }
  }
}

// The architecture that loads a network from a file, and its parameter naming the file
// (plugins/architecture/torchscript): reports name such a network by its file.
constexpr const char* kFilePlugin = "torchscript";
constexpr const char* kFileParameter = "path";

// Axes in the order a config reads: what is trained on what, then how.
int section_rank(const std::string& key) {
  static const char* const order[] = {"dataset", "target", "guide", "guidance",
                                      "train",   "record", "run"};
  std::string section = key.substr(0, key.find('.'));
  for (int i = 0; i < 7; ++i) {
    if (section == order[i]) return i;
  }
  return 7;
}

std::string value_of(const std::map<std::string, std::string>& settings, const std::string& key) {
  auto found = settings.find(key);
  return found == settings.end() ? kNoValue : found->second;
}

}  // namespace

std::string StudyCell::label() const {
  std::vector<std::string> parts;
  for (const auto& [key, value] : settings) parts.push_back(key + "=" + value);
  return parts.empty() ? "(all runs)" : join(parts, ", ");
}

std::map<std::string, std::string> settings_of(const std::string& config_toml) {
  toml::table root;
  try {
    root = toml::parse(config_toml);
  } catch (const toml::parse_error& error) {
    throw RunError("the record's config is not TOML: " + std::string(error.description()));
  }
  std::map<std::string, std::string> settings;
  flatten(root, "", settings);
  for (auto it = settings.begin(); it != settings.end();) {
    it = kIdentityKeys.count(it->first) || leaves_results(it->first) ? settings.erase(it)
                                                                      : std::next(it);
  }
  bool guided = root.contains("guide") && value_of(settings, kGuidanceEnabledKey) != "false";
  if (!guided) {
    for (auto it = settings.begin(); it != settings.end();) {
      it = unguided_run_ignores(it->first) ? settings.erase(it) : std::next(it);
    }
    settings[kGuidanceEnabledKey] = "false";
  }
  return settings;
}

void group_into_cells(Study& study) {
  study.axes.clear();
  study.cells.clear();
  std::set<std::string> keys;
  for (const auto& run : study.runs) {
    if (run.state == kUnreadable) continue;
    for (const auto& [key, value] : run.settings) keys.insert(key);
  }
  // An axis takes two values or more among the runs that have the key: a key only some runs have
  // (guide.* of guided runs, a plugin's own parameters) follows from another axis.
  for (const auto& key : keys) {
    std::set<std::string> seen;
    for (const auto& run : study.runs) {
      auto found = run.settings.find(key);
      if (run.state != kUnreadable && found != run.settings.end()) seen.insert(found->second);
    }
    if (seen.size() > 1) study.axes.push_back(key);
  }
  std::stable_sort(study.axes.begin(), study.axes.end(),
                   [](const auto& a, const auto& b) { return section_rank(a) < section_rank(b); });

  for (size_t r = 0; r < study.runs.size(); ++r) {
    const StudyRun& run = study.runs[r];
    if (run.state == kUnreadable) continue;
    std::vector<Setting> settings;
    for (const auto& axis : study.axes) settings.emplace_back(axis, value_of(run.settings, axis));
    auto cell = std::find_if(study.cells.begin(), study.cells.end(),
                             [&](const StudyCell& c) { return c.settings == settings; });
    if (cell == study.cells.end()) {
      study.cells.push_back({settings, {}, std::nullopt});
      cell = study.cells.end() - 1;
    }
    cell->runs.push_back(r);
  }
}

size_t axis_position(const Study& study, const std::string& axis, const std::string& option) {
  auto found = std::find(study.axes.begin(), study.axes.end(), axis);
  if (found == study.axes.end()) {
    throw UsageError(option + ": '" + axis + "' is not an axis of the study in " +
                     study.directory + did_you_mean(axis, study.axes) + "; its axes are " +
                     (study.axes.empty() ? std::string("none (all runs share their settings)")
                                         : quoted_list(study.axes)));
  }
  return static_cast<size_t>(found - study.axes.begin());
}

bool ran_unguided(const StudyRun& run) {
  return value_of(run.settings, kGuidanceEnabledKey) == "false";
}

std::string shown_value(const Study& study, const StudyCell& cell, size_t axis) {
  const auto& [key, value] = cell.settings.at(axis);
  const std::string plugin = ".plugin";
  if (value != kFilePlugin || !ends_with(key, plugin) || cell.runs.empty()) return value;
  const std::map<std::string, std::string>& settings = study.runs[cell.runs.front()].settings;
  auto file = settings.find(key.substr(0, key.size() - plugin.size() + 1) + kFileParameter);
  return file == settings.end() ? value : fs::path(file->second).filename().string();
}

std::vector<std::string> cell_labels(const Study& study) {
  const std::string plugin = ".plugin";
  const size_t axes = study.axes.size();
  // A plugin's parameter swept along with its plugin (their defaults differ, or a TorchScript
  // network's file, which the plugin's shown value names) says nothing more.
  std::vector<bool> shown(axes, true);
  std::vector<std::string> names(axes);
  for (size_t a = 0; a < axes; ++a) {
    const std::string& key = study.axes[a];
    std::string owner = key.substr(0, key.rfind('.'));
    names[a] = ends_with(key, plugin) ? key.substr(0, key.size() - plugin.size()) : key;
    names[a] = names[a].substr(names[a].rfind('.') + 1);
    auto chooser = std::find(study.axes.begin(), study.axes.end(), owner + plugin);
    if (ends_with(key, plugin) || chooser == study.axes.end()) continue;
    const size_t p = static_cast<size_t>(chooser - study.axes.begin());
    std::map<std::string, std::string> value_for_plugin;
    bool follows = true;
    for (const auto& cell : study.cells) {
      auto [known, added] =
          value_for_plugin.emplace(shown_value(study, cell, p), cell.settings[a].second);
      follows = follows && (added || known->second == cell.settings[a].second);
    }
    shown[a] = !follows;
  }
  for (size_t a = 0; a < axes; ++a) {
    if (std::count(names.begin(), names.end(), names[a]) > 1) names[a] = study.axes[a];
  }
  std::vector<std::string> labels;
  for (const auto& cell : study.cells) {
    std::vector<std::string> parts;
    std::optional<size_t> enabled_at;
    bool guide_named = false, enabled = true;
    for (size_t a = 0; a < axes; ++a) {
      if (!shown[a]) continue;
      if (study.axes[a] == kGuidanceEnabledKey) {
        enabled_at = parts.size();
        enabled = cell.settings[a].second != "false";
        continue;
      }
      std::string value = shown_value(study, cell, a);
      if (value == kNoValue) continue;
      parts.push_back(names[a] + "=" + value);
      guide_named = guide_named || starts_with(study.axes[a], "guide.");
    }
    if (enabled_at && (!enabled || !guide_named)) {
      parts.insert(parts.begin() + static_cast<std::ptrdiff_t>(*enabled_at),
                   enabled ? "guided" : "unguided");
    }
    labels.push_back(parts.empty() ? cell.label() : join(parts, ", "));
  }
  return labels;
}

}  // namespace guidance::analysis
