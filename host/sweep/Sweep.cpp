#include "host/sweep/Sweep.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cmath>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <tuple>
#include <stdexcept>

#include "guidance/api/InputFile.h"
#include "host/common/Errors.h"
#include "host/common/AtomicFile.h"
#include "host/common/Fnv1a.h"
#include "host/common/TextFormat.h"
#include "host/config/ConfigKeys.h"
#include "host/config/SweepLayout.h"
#include "host/config/TomlReader.h"

namespace guidance {

namespace fs = std::filesystem;

namespace {

/// One key a sweep sets: a plain axis has one, a zip group several, the baseline any number.
struct SweptKey {
  std::string path;
  std::vector<std::string> components;
  std::string label;
  const toml::node* declared = nullptr;  ///< where the file gives it: errors point here
  const toml::array* values = nullptr;   ///< an axis's values (nullptr for a baseline key)
  std::vector<std::string> texts;  ///< per value: inline_toml, the run's setting
};

/// One dimension of the cross product: a plain key, or a zip group whose keys vary together.
struct Axis {
  std::vector<SweptKey> keys;
  size_t length = 0;
  std::vector<std::string> names;  ///< per position: "label=value,..." unique within the axis
  toml::source_position position;  ///< where the file lists it, for the crossing order
  bool from_command_line = false;  ///< a --multirun override's: crossed after the file's axes
};

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  std::stringstream stream(path);
  for (std::string part; std::getline(stream, part, '.');) parts.push_back(part);
  return parts;
}

/// A value's short name in run names: a string bare, a table by its plugin, else as TOML.
std::string short_value_name(const toml::node& node) {
  if (const auto* text = node.as_string()) return text->get();
  if (const auto* table = node.as_table()) {
    if (const auto* plugin = table->get_as<std::string>("plugin")) return plugin->get();
  }
  return inline_toml(node);
}

/// Keeps a name one path component that every file system accepts: letters, digits and `._+-`
/// stay, everything else (`/`, spaces, quotes, commas, brackets) becomes `_`, and so does a `.`
/// after a `.` (run names may not hold `..`).
std::string path_safe(const std::string& text) {
  std::string safe;
  for (char c : text) {
    bool keep = std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '+' || c == '-' ||
                (c == '.' && (safe.empty() || safe.back() != '.'));
    safe += keep ? c : '_';
  }
  return safe;
}

/// Sets root[components] = value, creating intermediate tables.
void assign(toml::table& root, const SweptKey& key, const toml::node& value,
            const std::string& file) {
  toml::table* table = &root;
  for (size_t i = 0; i + 1 < key.components.size(); ++i) {
    toml::node* next = table->get(key.components[i]);
    if (next == nullptr) {
      table->insert(key.components[i], toml::table{});
      next = table->get(key.components[i]);
    }
    if (!next->is_table()) {
      throw ConfigError(location_of(file, *key.declared) + ": " + (key.values ? "sweep axis '" : "baseline key '") + key.path + "': '" +
                        key.components[i] + "' is not a table in the config");
    }
    table = next->as_table();
  }
  table->insert_or_assign(key.components.back(), value);
}

/// @return `path` as a key a sweep sets to `value`, checked to be a key path of the config.
SweptKey read_key_path(const std::string& path, const toml::node& value, const std::string& file,
                       const std::string& what) {
  SweptKey key;
  key.path = path;
  key.components = split_path(path);
  key.declared = &value;
  bool empty_component = std::any_of(key.components.begin(), key.components.end(),
                                     [](const std::string& part) { return part.empty(); });
  if (key.components.empty() || empty_component || key.components.front() == sweep_layout::kSweepKey) {
    throw ConfigError(location_of(file, value) + ": " + what + " '" + path +
                      "' is not a key path of the config");
  }
  key.label = key.components.back();
  return key;
}

SweptKey read_key(const std::string& path, const toml::node& value, const std::string& file) {
  SweptKey key = read_key_path(path, value, file, "sweep axis");
  key.values = value.as_array();
  if (key.values == nullptr || key.values->empty()) {
    throw ConfigError(location_of(file, value) + ": sweep axis '" + path +
                      "': expected a non-empty list of values");
  }
  return key;
}

/// Reads `[sweep.baseline]`: the key paths and values that make a run the study's baseline.
std::vector<SweptKey> read_baseline(const toml::node& node, const std::string& file) {
  const toml::table* table = node.as_table();
  if (table == nullptr || table->empty()) {
    throw ConfigError(location_of(file, node) +
                      ": key 'sweep.baseline': expected a table [sweep.baseline] of \"<key path>\" "
                      "= value, the settings of the baseline runs (e.g. \"guidance.enabled\" = "
                      "false)");
  }
  std::vector<SweptKey> keys;
  for (const auto& [path, value] : *table) {
    SweptKey key = read_key_path(std::string(path.str()), value, file, "baseline key");
    if (key.path == kReplicateKey || key.path == "run.name") {
      throw ConfigError(location_of(file, value) + ": baseline key '" + key.path +
                        "': the baseline runs once per " + kReplicateKey +
                        " of the sweep and is named by it; it cannot set " + key.path);
    }
    key.texts.push_back(inline_toml(value));
    keys.push_back(std::move(key));
  }
  return keys;
}

/// @return whether a run with the baseline's settings ignores the axis: the baseline sets each of
/// its keys, or turns guidance off and the keys are the guide's or guidance's.
bool baseline_ignores(const std::vector<SweptKey>& baseline, const Axis& axis) {
  bool unguided = std::any_of(baseline.begin(), baseline.end(), [](const SweptKey& key) {
    const auto* enabled = key.declared->as_boolean();
    return key.path == kGuidanceEnabledKey && enabled != nullptr && !enabled->get();
  });
  return std::all_of(axis.keys.begin(), axis.keys.end(), [&](const SweptKey& swept) {
    bool set = std::any_of(baseline.begin(), baseline.end(), [&](const SweptKey& key) {
      return swept.path == key.path || swept.path.rfind(key.path + ".", 0) == 0;
    });
    return set || (unguided && unguided_run_ignores(swept.path));
  });
}

/// Reads `[sweep.zip.<group>]` tables: each group one axis of keys with lists of one length.
void read_zip_groups(const toml::node& zip, const std::string& file, std::vector<Axis>& axes) {
  const toml::table* groups = zip.as_table();
  if (groups == nullptr) {
    throw ConfigError(location_of(file, zip) +
                      ": key 'sweep.zip': expected tables [sweep.zip.<group>] of \"<key path>\" = "
                      "[values...] lists of one length");
  }
  for (const auto& [group_key, group_node] : *groups) {
    std::string group = "sweep.zip." + std::string(group_key.str());
    const toml::table* table = group_node.as_table();
    if (table == nullptr || table->empty()) {
      throw ConfigError(location_of(file, group_node) + ": key '" + group +
                        "': expected a table of \"<key path>\" = [values...] lists of one length");
    }
    Axis axis;
    for (const auto& [key, value] : *table) {
      SweptKey swept = read_key(std::string(key.str()), value, file);
      if (swept.path == kReplicateKey) {
        throw ConfigError(location_of(file, value) + ": sweep axis '" + swept.path + "' in [" +
                          group + "]: " + kReplicateKey +
                          " is the replicate axis; give it its own key in [sweep]");
      }
      axis.keys.push_back(swept);
    }
    std::stable_sort(axis.keys.begin(), axis.keys.end(), [](const SweptKey& a, const SweptKey& b) {
      return a.values->source().begin < b.values->source().begin;
    });
    axis.length = axis.keys.front().values->size();
    for (const auto& key : axis.keys) {
      if (key.values->size() != axis.length) {
        throw ConfigError(location_of(file, *key.values) + ": sweep axis '" + key.path + "' in [" +
                          group + "] has " + std::to_string(key.values->size()) +
                          " values but '" + axis.keys.front().path + "' has " +
                          std::to_string(axis.length) + ": keys of a zip group vary together");
      }
    }
    axis.position = axis.keys.front().values->source().begin;
    axes.push_back(axis);
  }
}

/// The run name's base: a non-empty, relative string (a sweep appends `/<settings>`).
std::string base_name_of(const ConfigDocument& document, const toml::node& sweep) {
  const toml::node* run = document.root->get("run");
  if (run == nullptr || !run->is_table()) {
    throw ConfigError(location_of(document.path, sweep) +
                      ": missing required table [run] with key 'run.name': a sweep names its runs "
                      "<run.name>/<axis>=<value>,...");
  }
  const toml::node* name = run->as_table()->get("name");
  if (name == nullptr) {
    throw ConfigError(location_of(document.path, *run) +
                      ": missing required key 'run.name' in table [run]: a sweep names its runs "
                      "<run.name>/<axis>=<value>,...");
  }
  const auto* text = name->as_string();
  if (text == nullptr) {
    throw ConfigError(location_of(document.path, *name) +
                      ": key 'run.name': expected a string: a sweep names its runs "
                      "<run.name>/<axis>=<value>,...");
  }
  if (std::string problem = run_name_problem(text->get()); !problem.empty()) {
    throw ConfigError(location_of(document.path, *name) + ": key 'run.name': " + problem);
  }
  return text->get();
}

uint64_t seed_of(const toml::table& root) {
  std::optional<int64_t> seed = root.at_path("run.seed").value<int64_t>();
  return seed && *seed >= 0 ? static_cast<uint64_t>(*seed) : 0;
}

/// A run-name suffix longer than one name component may be is cut and given a hash of the whole,
/// so that it stays unique and stable.
std::string shortened(const std::string& suffix) {
  const size_t limit = config_limits::kMaxRunNameComponentBytes;
  if (suffix.size() <= limit) return suffix;
  char hex[16];
  std::snprintf(hex, sizeof(hex), "-%08x", fnv1a_32(suffix));
  return suffix.substr(0, limit - 9) + hex;
}

/// @return the byte offset in `text` of a toml++ position (line, and column in code points).
size_t offset_of(const std::string& text, const toml::source_position& position) {
  size_t offset = 0;
  for (toml::source_index line = 1; line < position.line; ++line) {
    offset = text.find('\n', offset);
    if (offset == std::string::npos) return text.size();
    ++offset;
  }
  for (toml::source_index column = 1; column < position.column && offset < text.size(); ++column) {
    do {
      ++offset;
    } while (offset < text.size() && (static_cast<unsigned char>(text[offset]) & 0xC0) == 0x80);
  }
  return offset;
}

/// @return the last line on which a node outside [sweep] begins.
toml::source_index last_line_outside_sweep(const toml::table& root) {
  toml::source_index last = 0;
  std::function<void(const toml::node&)> visit = [&](const toml::node& node) {
    last = std::max(last, node.source().begin.line);
    if (const auto* table = node.as_table()) {
      for (const auto& [key, value] : *table) visit(value);
    } else if (const auto* array = node.as_array()) {
      for (const auto& value : *array) visit(value);
    }
  };
  for (const auto& [key, value] : root) {
    if (key.str() != sweep_layout::kSweepKey) visit(value);
  }
  return last;
}

/// @return `text` with every swept list emptied, so that each run parses it in a time that does
/// not grow with the sweep. Every node outside [sweep] keeps its line and column: a list keeps its
/// line breaks when such a node comes after it, and only [sweep]'s own keys or a comment can
/// follow a list on its last line.
std::string without_lists(std::string text, const toml::table& root,
                          const std::vector<Axis>& axes) {
  const toml::source_index last_line = last_line_outside_sweep(root);
  struct List {
    size_t begin, end;  // bytes [begin, end) of `text`
    bool keep_breaks;
  };
  std::vector<List> lists;
  for (const auto& axis : axes) {
    if (axis.from_command_line) continue;  // its list is not in the file's text
    for (const auto& key : axis.keys) {
      const toml::source_region& source = key.values->source();
      size_t begin = offset_of(text, source.begin);
      size_t end = offset_of(text, source.end);
      // Positions that do not fall on the list's brackets leave it whole (slower, still right).
      if (end >= begin + 2 && end <= text.size() && text[begin] == '[' && text[end - 1] == ']') {
        lists.push_back({begin, end, source.begin.line <= last_line});
      }
    }
  }
  // The last first, so that the ranges still to empty do not move.
  std::sort(lists.begin(), lists.end(),
            [](const List& a, const List& b) { return a.begin > b.begin; });
  for (const List& list : lists) {
    auto first = text.begin() + static_cast<std::ptrdiff_t>(list.begin);
    auto last = text.begin() + static_cast<std::ptrdiff_t>(list.end);
    size_t breaks = list.keep_breaks ? static_cast<size_t>(std::count(first, last, '\n')) : 0;
    text.replace(list.begin, list.end - list.begin, "[" + std::string(breaks, '\n') + "]");
  }
  return text;
}

}  // namespace

std::vector<SweepSetting> SweepRun::cell() const {
  std::vector<SweepSetting> kept;
  for (size_t i = 0; i < settings.size(); ++i) {
    if (!replicate || i != *replicate) kept.push_back(settings[i]);
  }
  return kept;
}

struct Sweep::Plan {
  ConfigDocument document;  ///< the file's document; the axes point into it
  bool expands = false;     ///< it has a [sweep] table (else its one run is the document itself)
  std::string text;         ///< the file's text without the swept lists, parsed for each run
  std::string study;        ///< run.name before expansion
  std::vector<Axis> axes;   ///< in crossing order, the last varying fastest
  size_t total = 1;
  std::vector<SweptKey> baseline;    ///< [sweep.baseline]'s settings, empty when it has none
  std::vector<size_t> baseline_axes; ///< the axes the baseline runs cross, in crossing order
  size_t baseline_runs = 0;          ///< runs 0 .. baseline_runs - 1 are the baseline's

  bool is_baseline(size_t index) const { return index < baseline_runs; }

  /// @return the axes that run `index` crosses (each axis index once, in crossing order)
  std::vector<size_t> crossed(size_t index) const {
    if (is_baseline(index)) return baseline_axes;
    std::vector<size_t> all(axes.size());
    for (size_t a = 0; a < all.size(); ++a) all[a] = a;
    return all;
  }

  /// @return the position of run `index` in each axis that crossed(index) lists
  std::vector<size_t> choices(size_t index) const {
    std::vector<size_t> used = crossed(index);
    if (!is_baseline(index)) index -= baseline_runs;
    std::vector<size_t> choice(used.size());
    for (size_t u = used.size(); u > 0; --u) {
      choice[u - 1] = index % axes[used[u - 1]].length;
      index /= axes[used[u - 1]].length;
    }
    return choice;
  }

  std::string name(size_t index) const {
    std::vector<size_t> used = crossed(index), choice = choices(index);
    std::string suffix = is_baseline(index) ? kBaselineRunLabel : "";
    for (size_t u = 0; u < used.size(); ++u) {
      suffix += (suffix.empty() ? "" : ",") + axes[used[u]].names[choice[u]];
    }
    return suffix.empty() ? study : study + "/" + shortened(suffix);
  }
};

Sweep::Sweep(const ConfigDocument& document) {
  auto plan = std::make_shared<Plan>();
  plan->document = document;
  const toml::node* sweep_node = document.root->get(sweep_layout::kSweepKey);
  if (sweep_node == nullptr) {
    const toml::node* name = document.root->at_path("run.name").node();
    if (name != nullptr && name->is_string()) plan->study = *name->value<std::string>();
    plan_ = std::move(plan);
    return;
  }
  const toml::table* sweep = sweep_node->as_table();
  if (sweep == nullptr) {
    throw ConfigError(location_of(document.path, *sweep_node) +
                      ": key 'sweep': expected a table of \"<key path>\" = [values...]");
  }
  plan->expands = true;
  plan->study = base_name_of(document, *sweep_node);

  std::vector<Axis>& axes = plan->axes;
  for (const auto& [key, value] : *sweep) {
    if (key.str() == sweep_layout::kZipKey) {
      read_zip_groups(value, document.path, axes);
      continue;
    }
    if (key.str() == sweep_layout::kBaselineKey) {
      plan->baseline = read_baseline(value, document.path);
      continue;
    }
    Axis axis;
    axis.keys.push_back(read_key(std::string(key.str()), value, document.path));
    axis.length = axis.keys.front().values->size();
    const toml::source_region& source = axis.keys.front().values->source();
    axis.position = source.begin;
    axis.from_command_line = source.path != nullptr && *source.path != document.path;
    axes.push_back(axis);
  }
  // toml++ keeps keys sorted; cross the axes in the order the file lists them, then the
  // command line's (each override on a line of its own: host/config/Overrides.h).
  std::stable_sort(axes.begin(), axes.end(), [](const Axis& a, const Axis& b) {
    return std::tie(a.from_command_line, a.position) < std::tie(b.from_command_line, b.position);
  });

  // Bound the sweep before anything else: the runs must stay countable and listable.
  std::string sizes;
  bool too_many = false;
  for (const auto& axis : axes) {
    sizes += (sizes.empty() ? "" : " x ") + std::to_string(axis.length);
    if (plan->total > kMaxSweepRuns / axis.length) too_many = true;
    if (!too_many) plan->total *= axis.length;
  }
  if (!plan->baseline.empty()) {
    plan->baseline_runs = 1;
    for (size_t a = 0; a < axes.size(); ++a) {
      if (baseline_ignores(plan->baseline, axes[a])) continue;
      plan->baseline_axes.push_back(a);
      plan->baseline_runs *= axes[a].length;  // at most total: no overflow once total is bounded
    }
    sizes += " + a baseline of " + std::to_string(plan->baseline_runs);
    if (!too_many) plan->total += plan->baseline_runs;
  }
  if (too_many || plan->total > kMaxSweepRuns) {
    throw ConfigError(location_of(document.path, *sweep_node) +
                      ": key 'sweep': the axes (" + sizes + " values) make more than " +
                      std::to_string(kMaxSweepRuns) +
                      " runs, the most one sweep may have; split it into several configs");
  }

  std::map<std::string, int> label_uses;
  std::set<std::string> paths;
  for (const auto& axis : axes) {
    for (const auto& key : axis.keys) {
      if (!paths.insert(key.path).second) {
        throw ConfigError(location_of(document.path, *key.values) + ": sweep axis '" + key.path +
                          "' is swept twice (as an axis and in a zip group, or in two groups)");
      }
      ++label_uses[key.label];
    }
  }
  for (auto& axis : axes) {
    for (auto& key : axis.keys) {
      if (label_uses[key.label] > 1) key.label = key.path;
      for (size_t i = 0; i < axis.length; ++i) {
        key.texts.push_back(inline_toml(*key.values->get(i)));
      }
    }
    // Values that name alike (two tables of one plugin, "a b" and "a_b") are told apart by their
    // position.
    std::vector<std::string> names(axis.length);
    for (size_t i = 0; i < axis.length; ++i) {
      for (const auto& key : axis.keys) {
        names[i] += (names[i].empty() ? "" : ",") + path_safe(key.label) + "=" +
                    path_safe(short_value_name(*key.values->get(i)));
      }
    }
    std::map<std::string, int> uses;
    for (const auto& name : names) ++uses[name];
    for (size_t i = 0; i < axis.length; ++i) {
      axis.names.push_back(uses[names[i]] > 1 ? names[i] + "-" + std::to_string(i + 1) : names[i]);
    }
  }

  // Read once, so that every run sees the same file.
  try {
    plan->text = without_lists(
        InputFile::open(document.path, config_limits::kMaxFileBytes).read_all(), *document.root,
        axes);
  } catch (const std::runtime_error& error) {
    throw ConfigError(std::string("cannot read config file ") + error.what());
  }
  plan_ = std::move(plan);
}

size_t Sweep::size() const { return plan_->total; }

const ConfigOverrides& Sweep::overrides() const { return plan_->document.overrides; }

const std::string& Sweep::study() const { return plan_->study; }

std::string Sweep::name(size_t index) const { return plan_->name(index); }

std::set<std::string> Sweep::varying() const {
  std::set<std::string> varying;
  for (const auto& key : plan_->baseline) varying.insert(key.path);
  for (const auto& axis : plan_->axes) {
    for (const auto& key : axis.keys) {
      if (std::set<std::string>(key.texts.begin(), key.texts.end()).size() > 1) {
        varying.insert(key.path);
      }
    }
  }
  return varying;
}

SweepRun Sweep::run(size_t index) const {
  const Plan& plan = *plan_;
  if (index >= plan.total) {
    throw std::out_of_range("run " + std::to_string(index) + " of a sweep of " +
                            std::to_string(plan.total));
  }
  SweepRun run;
  run.document = plan.document;
  if (!plan.expands) {
    run.name = plan.study;
    run.seed = seed_of(*run.document.root);
    return run;
  }
  run.index = index;
  // Parsed afresh rather than copied: toml++ copies drop source positions, and every later error
  // must still name its line.
  run.document.root = std::make_shared<toml::table>(toml::parse(plan.text, plan.document.path));
  apply_overrides(*run.document.root, plan.document.overrides);
  run.document.root->erase(sweep_layout::kSweepKey);
  if (plan.is_baseline(index)) {
    for (const auto& key : plan.baseline) {
      assign(*run.document.root, key, *key.declared, plan.document.path);
      run.settings.emplace_back(key.path, key.texts.front());
    }
  }
  std::vector<size_t> used = plan.crossed(index), choice = plan.choices(index);
  for (size_t u = 0; u < used.size(); ++u) {
    for (const auto& key : plan.axes[used[u]].keys) {
      assign(*run.document.root, key, *key.values->get(choice[u]), plan.document.path);
      if (key.path == kReplicateKey) run.replicate = run.settings.size();
      run.settings.emplace_back(key.path, key.texts[choice[u]]);
    }
  }
  run.name = plan.name(index);
  run.seed = seed_of(*run.document.root);
  if (toml::table* section = (*run.document.root)["run"].as_table()) {
    section->insert_or_assign("name", run.name);
  }
  return run;
}

std::vector<SweepRun> expand_sweep(const ConfigDocument& document) {
  Sweep sweep(document);
  std::vector<SweepRun> runs;
  runs.reserve(sweep.size());
  for (size_t index = 0; index < sweep.size(); ++index) runs.push_back(sweep.run(index));
  return runs;
}

}  // namespace guidance
