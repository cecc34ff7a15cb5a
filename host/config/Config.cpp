#include "host/config/Config.h"

#include <filesystem>
#include <algorithm>
#include <cctype>
#include <regex>
#include <set>
#include <sstream>

#include "guidance/api/InputFile.h"
#include "guidance/api/Plugin.h"
#include "host/common/Errors.h"
#include "host/config/ConfigKeys.h"
#include "host/config/SweepLayout.h"
#include "host/config/TomlReader.h"
#include "host/plugins/PluginCatalog.h"

namespace guidance {

namespace fs = std::filesystem;

std::string resolve_path(const std::string& directory, const std::string& path) {
  if (path.empty() || fs::path(path).is_absolute()) return path;
  return (fs::path(directory) / path).lexically_normal().string();
}

namespace {

/// Refuses text nesting deeper than the limits before toml++ sees it: its parser recurses once per
/// dotted key part and per nested array or inline table, so a hostile file overflows the stack.
/// Strings and comments are skipped; a dotted chain is bare or quoted parts joined by '.' (a
/// float's digits count as parts too, which the limit allows for).
void check_nesting(const std::string& text, const std::string& path) {
  int line = 1;
  int depth = 0;
  int chain = 0;
  bool after_dot = false;
  auto refuse = [&](const std::string& what, int limit) {
    throw ConfigError(path + ":" + std::to_string(line) + ": " + what + " (at most " +
                      std::to_string(limit) + " allowed); refused before parsing");
  };
  auto bare = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '+';
  };
  auto skip_string = [&](size_t& i) {
    const char quote = text[i];
    const std::string triple(3, quote);
    const bool multi = text.compare(i, 3, triple) == 0;
    for (i += multi ? 3 : 1; i < text.size(); ++i) {
      if (text[i] == '\n') {
        if (!multi) return;  // unterminated: the parser reports it
        ++line;
      } else if (text[i] == '\\' && quote == '"') {
        ++i;
      } else if (multi ? text.compare(i, 3, triple) == 0 : text[i] == quote) {
        i += multi ? 2 : 0;
        return;
      }
    }
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '"' || c == '\'' || bare(c)) {
      if (c == '"' || c == '\'') {
        skip_string(i);
      } else {
        while (i + 1 < text.size() && bare(text[i + 1])) ++i;
      }
      chain = after_dot ? chain + 1 : 1;
      after_dot = false;
      if (chain > config_limits::kMaxDottedKeyParts) {
        refuse("dotted key with too many parts", config_limits::kMaxDottedKeyParts);
      }
      continue;
    }
    if (c == '.' && chain > 0 && !after_dot) {
      after_dot = true;
      continue;
    }
    if (c == ' ' || c == '\t') continue;
    chain = 0;
    after_dot = false;
    if (c == '#') {
      while (i + 1 < text.size() && text[i + 1] != '\n') ++i;
    } else if (c == '\n') {
      ++line;
    } else if (c == '[' || c == '{') {
      if (++depth > config_limits::kMaxNesting) {
        refuse("arrays or tables nested too deeply", config_limits::kMaxNesting);
      }
    } else if (c == ']' || c == '}') {
      depth = std::max(depth - 1, 0);
    }
  }
}

}  // namespace

std::string run_name_problem(const std::string& name) {
  namespace limits = config_limits;
  if (name.empty()) return "must not be empty";
  if (name.size() > limits::kMaxRunNameBytes) {
    return "is " + std::to_string(name.size()) + " bytes long, more than the " +
           std::to_string(limits::kMaxRunNameBytes) + " allowed";
  }
  if (name.front() == '/') return "'" + name + "' is absolute: it must be a path inside run.output";
  std::stringstream parts(name);
  bool first = true;
  for (std::string part; std::getline(parts, part, '/'); first = false) {
    if (part.empty() || part == "." || part == "..") {
      return "'" + name + "' has an empty, '.' or '..' component: it must be a path inside "
             "run.output";
    }
    if (part.size() > limits::kMaxRunNameComponentBytes) {
      return "has a component of " + std::to_string(part.size()) + " bytes, more than the " +
             std::to_string(limits::kMaxRunNameComponentBytes) + " allowed";
    }
    for (char c : part) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == '\\') {
        return "'" + name + "' contains a control character or a backslash";
      }
    }
    if (first && part == "guide-cache") {
      return "'guide-cache' is the folder of cached trained guides in run.output";
    }
  }
  if (name.back() == '/') return "'" + name + "' ends with '/'";
  return "";
}

ConfigDocument ConfigDocument::parse(const std::string& path, const ConfigOverrides& overrides) {
  std::string text;
  try {
    text = InputFile::open(path, config_limits::kMaxFileBytes).read_all();
  } catch (const std::runtime_error& error) {
    throw ConfigError(std::string("cannot read config file ") + error.what());
  }
  check_nesting(text, path);
  ConfigDocument document;
  document.path = path;
  document.directory = fs::absolute(path).parent_path().string();
  try {
    document.root = std::make_shared<toml::table>(toml::parse(text, path));
  } catch (const toml::parse_error& error) {
    const auto& begin = error.source().begin;
    throw ConfigError(path + ":" + std::to_string(begin.line) + ":" +
                      std::to_string(begin.column) + ": TOML syntax error: " +
                      std::string(error.description()));
  }
  document.overrides = overrides;
  apply_overrides(*document.root, overrides);
  return document;
}

std::vector<std::string> ConfigDocument::plugin_dirs() const {
  const toml::node* run = root->get("run");
  if (run == nullptr || !run->is_table()) return {};
  TomlReader reader(*run->as_table(), path, "run");
  std::vector<std::string> dirs = reader.strings("plugin_dirs", {});
  for (auto& dir : dirs) {
    dir = resolve_path(directory, dir);
    // Checked here, where the key's location is known, rather than where plugins are loaded.
    std::error_code error;
    if (!fs::exists(dir, error)) {
      reader.fail("plugin_dirs", "plugin directory '" + dir + "' does not exist");
    }
    if (!fs::is_directory(dir, error)) {
      reader.fail("plugin_dirs", "plugin directory '" + dir + "' is not a directory");
    }
  }
  return dirs;
}

namespace {

/// Whether a string at `path` names a plugin: a `plugin` key, or a [sweep] axis or `record.metrics`
/// (paths under [sweep] carry the axis's quoted key, "sweep.zip.guide.guide.init.plugin").
bool names_plugins(const std::string& path) {
  auto ends_with = [&](const std::string& tail) {
    return path.size() >= tail.size() &&
           path.compare(path.size() - tail.size(), tail.size(), tail) == 0;
  };
  return path == kPluginKey || ends_with(std::string(".") + kPluginKey) ||
         path == "record.metrics" || ends_with(".record.metrics");
}

/// @return the keys the axes of a [sweep] table (or none, when null) set: its own keys and those
/// of its zip groups (host/sweep/Sweep.h reads the same layout), without the groups' names or
/// the baseline.
std::vector<std::string> swept_keys(const toml::table* sweep) {
  std::vector<std::string> keys;
  if (sweep == nullptr) return keys;
  for (const auto& [key, value] : *sweep) {
    if (key.str() == sweep_layout::kBaselineKey) continue;
    if (key.str() != sweep_layout::kZipKey) {
      keys.emplace_back(key.str());
      continue;
    }
    const toml::table* groups = value.as_table();
    if (groups == nullptr) continue;  // Sweep refuses it, naming its line
    for (const auto& [group, axes] : *groups) {
      if (const auto* table = axes.as_table()) {
        for (const auto& [axis, values] : *table) keys.emplace_back(axis.str());
      }
    }
  }
  return keys;
}

/// @return whether every run replaces the config's value at `path`: one of `axes` sets that key or
/// a table above it (an axis replaces the whole value at its key), so the value itself is unused.
bool replaced_by_axis(const std::vector<std::string>& axes, const std::string& path) {
  for (const std::string& axis : axes) {
    if (path == axis || path.compare(0, axis.size() + 1, axis + ".") == 0) return true;
  }
  return false;
}

/// Collects the plugin names under `node` at `path`, leaving out values one of `axes` (the
/// config's sweep axes) replaces in every run.
void collect_plugin_names(const toml::node& node, const std::string& path,
                          const std::vector<std::string>& axes, std::set<std::string>& names) {
  static const std::vector<std::string> kNoAxes;
  if (const auto* table = node.as_table()) {
    for (const auto& [key, value] : *table) {
      const std::string name(key.str());
      // The axes' own values: every one of them is used by some run.
      const bool axis_values = path.empty() && name == sweep_layout::kSweepKey;
      collect_plugin_names(value, path.empty() ? name : path + "." + name,
                           axis_values ? kNoAxes : axes, names);
    }
  } else if (const auto* array = node.as_array()) {
    for (const auto& element : *array) collect_plugin_names(element, path, axes, names);
  } else if (const auto* text = node.as_string()) {
    if (names_plugins(path) && !replaced_by_axis(axes, path)) names.insert(text->get());
  }
}

}  // namespace

std::vector<std::string> ConfigDocument::plugin_names() const {
  std::set<std::string> names;
  const std::vector<std::string> axes =
      swept_keys(root->get_as<toml::table>(sweep_layout::kSweepKey));
  collect_plugin_names(*root, "", axes, names);
  auto given = [&](const std::string& key) {
    return static_cast<bool>(root->at_path(key)) ||
           std::find(axes.begin(), axes.end(), key) != axes.end();
  };
  const bool guided = given("guide") || given("guide.plugin");
  if (!given("record.metrics") || (guided && !given("guidance.metric"))) {
    names.insert(kDefaultMetric);
  }
  if (guided && !given("guide.init")) names.insert(kDefaultGuideInit);
  return {names.begin(), names.end()};
}

std::string Config::run_directory() const {
  return (fs::path(run.output) / run.name).string();
}

namespace {

/// @return the plugin `name` of `kind` with its default parameters.
/// @throws UnknownPluginError listing the closest names
PluginChoice choice_with_defaults(const PluginCatalog& catalog, PluginKind kind,
                                  const std::string& name, const std::string& location) {
  return {name, defaults_of(catalog.find(kind, name).info.params), location};
}

PluginChoice default_metric(const PluginCatalog& catalog) {
  return choice_with_defaults(catalog, PluginKind::Metric, kDefaultMetric, "");
}

/// Reads a plugin table: `plugin = "<name>"` plus the plugin's parameters.
PluginChoice read_plugin_table(const toml::table& table, const std::string& file,
                               const std::string& path, PluginKind kind,
                               const PluginCatalog& catalog,
                               const std::vector<std::string>& reserved_keys = {}) {
  TomlReader reader(table, file, path);
  PluginChoice choice;
  choice.name = reader.required_string(kPluginKey);
  choice.location = reader.location(kPluginKey);
  for (const auto& key : reserved_keys) reader.accept(key);
  const CatalogEntry* entry = nullptr;
  try {
    entry = &catalog.find(kind, choice.name);
  } catch (const UnknownPluginError& error) {
    reader.fail(kPluginKey, error.what());
  }
  std::string label = std::string(to_string(kind)) + " plugin '" + choice.name + "'";
  choice.params = validate_plugin_table(reader, entry->info.params, label);
  choice.table = path;
  for (const auto& spec : entry->info.params) {
    if (reader.has(spec.name)) choice.param_locations[spec.name] = reader.location(spec.name);
  }
  return choice;
}

const toml::table& require_table(TomlReader& root, const std::string& key) {
  const toml::table* table = root.table(key);
  if (table == nullptr) {
    throw ConfigError(root.location(key) + ": missing required table [" + key + "]");
  }
  return *table;
}

RunSection read_run(const toml::table& table, const ConfigDocument& document) {
  TomlReader reader(table, document.path, "run");
  RunSection run;
  read_keys(reader, run_keys(), run);
  if (std::string problem = run_name_problem(run.name); !problem.empty()) {
    reader.fail("name", problem);
  }
  static const std::regex kDevice("cpu|cuda(:[0-9]{1,3})?");
  if (!std::regex_match(run.device, kDevice)) {
    reader.fail("device", "'" + run.device + "' is not a device: use \"cpu\", \"cuda\" or "
                          "\"cuda:N\" (N a device index)");
  }
  if (const toml::table* distributed = reader.table("distributed")) {
    TomlReader keys(*distributed, document.path, "run.distributed");
    read_keys(keys, distributed_keys(), run.distributed);
    keys.finish();
  }
  run.output = resolve_path(document.directory, run.output);
  for (auto& dir : run.plugin_dirs) dir = resolve_path(document.directory, dir);
  reader.finish();
  return run;
}

TrainSection read_train(const toml::table* table, const std::string& file) {
  TrainSection train;
  if (table == nullptr) return train;
  TomlReader reader(*table, file, "train");
  read_keys(reader, train_keys(), train);
  reader.finish();
  return train;
}

GuidanceSection read_guidance(const toml::table* table, const std::string& file,
                              const PluginCatalog& catalog) {
  GuidanceSection guidance;
  if (table == nullptr) {
    guidance.metric = default_metric(catalog);
    return guidance;
  }
  TomlReader reader(*table, file, "guidance");
  read_keys(reader, guidance_keys(), guidance);
  if (const toml::table* metric = reader.table("metric")) {
    guidance.metric = read_plugin_table(*metric, file, "guidance.metric", PluginKind::Metric,
                                        catalog);
  } else {
    guidance.metric = default_metric(catalog);
  }
  reader.accept("layer_map");
  guidance.layer_map_location = reader.location("layer_map");
  if (const toml::node* map = reader.node("layer_map")) {
    if (map->is_string()) {
      reader.string("layer_map", kUniformLayerMap, {kUniformLayerMap});
    } else if (const toml::array* pairs = map->as_array()) {
      guidance.layer_map = LayerMapKind::Explicit;
      for (const auto& pair : *pairs) {
        const toml::array* names = pair.as_array();
        if (names == nullptr || names->size() != 2 || !(*names)[0].is_string() ||
            !(*names)[1].is_string()) {
          throw ConfigError(location_of(file, pair) +
                            ": key 'guidance.layer_map': each entry must be a pair "
                            "[\"<guide tap>\", \"<target tap>\"]");
        }
        LayerPair named{*(*names)[0].value<std::string>(), *(*names)[1].value<std::string>()};
        for (const auto& earlier : guidance.pairs) {
          if (earlier.guide_tap == named.guide_tap && earlier.target_tap == named.target_tap) {
            throw ConfigError(location_of(file, pair) + ": key 'guidance.layer_map': the pair [\"" +
                              named.guide_tap + "\", \"" + named.target_tap +
                              "\"] is listed twice");
          }
        }
        guidance.pairs.push_back(std::move(named));
      }
    } else {
      reader.fail("layer_map", std::string("expected \"") + kUniformLayerMap +
                                   "\" or a list of [\"<guide tap>\", \"<target tap>\"] pairs");
    }
  }
  reader.accept("distillation");
  guidance.distill_location = reader.location("distillation");
  if (const toml::node* distillation = reader.node("distillation")) {
    const toml::table* table = distillation->as_table();
    if (table == nullptr) {
      reader.fail("distillation", "expected a table { weight = 1.0, temperature = 4.0 }");
    }
    TomlReader distill(*table, file, "guidance.distillation");
    guidance.distill_weight = distill.real("weight", 1.0, 0.0);
    guidance.distill_temperature = distill.real("temperature", guidance.distill_temperature, 1e-6);
    distill.finish();
  }
  if (guidance.layer_map == LayerMapKind::Explicit && guidance.pairs.empty() &&
      !guidance.distilling()) {
    reader.fail("layer_map", "the list of pairs is empty (an empty map is allowed only with "
                             "guidance.distillation, for distillation alone)");
  }
  if (guidance.distilling() && guidance.guide_input != GuideInput::Batch) {
    reader.fail("distillation", "distillation compares the two networks' logits on the same "
                                "inputs, so it needs guide_input = \"batch\"");
  }
  if (guidance.guide_cache == GuideCacheMode::On && guidance.guide_input != GuideInput::Batch) {
    reader.fail("guide_cache", "the guide-tap cache keeps the guide's outputs for each train "
                               "example, so it needs guide_input = \"batch\" (noise differs "
                               "every step)");
  }
  if (guidance.guide_cache == GuideCacheMode::On && guidance.guide_mode == GuideMode::Train) {
    reader.fail("guide_cache", "the guide-tap cache keeps the guide's outputs for each train "
                               "example, so it needs the guide in eval mode (guide_mode = "
                               "\"eval\", or \"released\" on an image task)");
  }
  guidance.guide_taps_location = reader.location("guide_taps");
  guidance.target_taps_location = reader.location("target_taps");
  guidance.tap_set_location = reader.location("tap_set");
  if (guidance.layer_map == LayerMapKind::Explicit) {
    // An empty subset is allowed: the resolved config of an explicit map writes both keys empty.
    auto refuse_subset = [&](const char* key, const std::vector<std::string>& taps) {
      if (!taps.empty()) {
        reader.fail(key, "restricts the uniform map only; with explicit layer_map pairs, list "
                         "just the pairs you want");
      }
    };
    refuse_subset("guide_taps", guidance.guide_taps);
    refuse_subset("target_taps", guidance.target_taps);
  }
  reader.finish();
  return guidance;
}

RecordMetric default_record_metric(const PluginCatalog& catalog) {
  PluginChoice choice = default_metric(catalog);
  return {choice.name, choice};
}

/// Reads `[record] metrics`: each entry a metric plugin name or a plugin table with an optional
/// `name`; names must differ, as each is an HDF5 group of the record.
std::vector<RecordMetric> read_record_metrics(TomlReader& reader, const std::string& file,
                                              const PluginCatalog& catalog) {
  reader.accept("metrics");
  const toml::node* node = reader.node("metrics");
  if (node == nullptr) return {default_record_metric(catalog)};
  const toml::array* array = node->as_array();
  if (array == nullptr) {
    reader.fail("metrics", "expected a list of metric plugin names or tables "
                           "{plugin = \"...\", name = \"...\", <parameters>}");
  }
  std::vector<RecordMetric> metrics;
  for (size_t i = 0; i < array->size(); ++i) {
    const toml::node& element = *array->get(i);
    std::string path = "record.metrics[" + std::to_string(i) + "]";
    RecordMetric metric;
    if (const auto* name = element.as_string()) {
      std::string location = location_of(file, element);
      try {
        metric.plugin = choice_with_defaults(catalog, PluginKind::Metric, name->get(), location);
      } catch (const UnknownPluginError& error) {
        throw ConfigError(location + ": key '" + path + "': " + error.what());
      }
      metric.name = metric.plugin.name;
    } else if (const auto* entry = element.as_table()) {
      metric.plugin = read_plugin_table(*entry, file, path, PluginKind::Metric, catalog, {"name"});
      TomlReader naming(*entry, file, path);
      metric.name = naming.string("name", metric.plugin.name);
      if (metric.name.empty() || metric.name == "." || metric.name.find('/') != std::string::npos) {
        naming.fail("name", "'" + metric.name + "' cannot name an HDF5 group (empty, '.' or "
                                                "containing '/')");
      }
      if (metric.name.size() > config_limits::kMaxRunNameComponentBytes) {
        naming.fail("name", "is " + std::to_string(metric.name.size()) + " bytes long, more than "
                            "the " + std::to_string(config_limits::kMaxRunNameComponentBytes) +
                            " allowed");
      }
    } else {
      throw ConfigError(location_of(file, element) + ": key '" + path +
                        "': expected a metric plugin name or a table {plugin = \"...\", name = "
                        "\"...\", <parameters>}");
    }
    for (const auto& earlier : metrics) {
      if (earlier.name == metric.name) {
        throw ConfigError(location_of(file, element) + ": key '" + path + "': the record already "
                          "has a metric named '" + metric.name + "' (" + earlier.plugin.location +
                          "); give this one another `name`");
      }
    }
    metrics.push_back(std::move(metric));
  }
  return metrics;
}

RecordSection read_record(const toml::table* table, const std::string& file,
                          const PluginCatalog& catalog) {
  RecordSection record;
  if (table == nullptr) {
    record.metrics = {default_record_metric(catalog)};
    return record;
  }
  TomlReader reader(*table, file, "record");
  read_keys(reader, record_keys(), record);
  record.metrics = read_record_metrics(reader, file, catalog);
  reader.finish();
  return record;
}

}  // namespace

std::string error_location(const PluginChoice& choice, const std::exception& error) {
  const auto* param_error = dynamic_cast<const ParamError*>(&error);
  if (param_error == nullptr) return choice.location;
  auto given = choice.param_locations.find(param_error->param());
  return (given != choice.param_locations.end() ? given->second : choice.location) + ": key '" +
         (choice.table.empty() ? "" : choice.table + ".") + param_error->param() + "'";
}

PluginChoice parse_plugin_choice(const std::string& text, PluginKind kind,
                                 const PluginCatalog& catalog, const std::string& option) {
  if (text.empty() || text.front() != '{') {
    try {
      return choice_with_defaults(catalog, kind, text, option);
    } catch (const UnknownPluginError& error) {
      throw ConfigError(option + ": " + error.what());
    }
  }
  toml::table document;
  try {
    document = toml::parse("value = " + text, option);
  } catch (const toml::parse_error& error) {
    throw ConfigError(option + ": not a plugin name nor a TOML table { plugin = \"...\", ... }: " +
                      std::string(error.description()));
  }
  const toml::table* table = document["value"].as_table();
  if (table == nullptr) throw ConfigError(option + ": expected a TOML table { plugin = \"...\", ... }");
  return read_plugin_table(*table, option, option, kind, catalog);
}

std::string describe_guide(const GuideSection& guide) {
  auto text = [](const PluginChoice& choice, const char* param) -> std::string {
    auto found = choice.params.values().find(param);
    if (found == choice.params.values().end()) return "";
    const auto* value = std::get_if<std::string>(&found->second);
    return value ? *value : "";
  };
  std::string description = guide.architecture.name;
  if (std::string path = text(guide.architecture, "path"); !path.empty()) {
    description += " (" + std::filesystem::path(path).filename().string() + ")";
  }
  // `untrained` with its default scheme keeps whatever the architecture built, here the file's.
  bool keeps_architecture_weights =
      guide.init.name == kDefaultGuideInit && text(guide.init, "scheme") == "architecture";
  bool file_weights = text(guide.architecture, "weights") == "file";
  return description + " [" +
         (file_weights && keeps_architecture_weights ? std::string("weights from the file")
                                                     : guide.init.name) +
         "]";
}

Config validate_config(const ConfigDocument& document, const PluginCatalog& catalog) {
  const std::string& file = document.path;
  TomlReader root(*document.root, file, "");
  Config config;
  config.document = document;
  config.run = read_run(require_table(root, "run"), document);
  config.dataset = read_plugin_table(require_table(root, "dataset"), file, "dataset",
                                     PluginKind::Dataset, catalog);
  config.target = read_plugin_table(require_table(root, "target"), file, "target",
                                    PluginKind::Architecture, catalog);
  if (const toml::table* guide = root.table("guide")) {
    GuideSection section;
    section.architecture = read_plugin_table(*guide, file, "guide", PluginKind::Architecture,
                                             catalog, {kGuideInitKey});
    TomlReader guide_reader(*guide, file, "guide");
    if (const toml::table* init = guide_reader.table(kGuideInitKey)) {
      section.init = read_plugin_table(*init, file, "guide.init", PluginKind::GuideInit, catalog);
    } else {
      section.init.name = kDefaultGuideInit;
      section.init.params =
          defaults_of(catalog.find(PluginKind::GuideInit, kDefaultGuideInit).info.params);
      section.init.location = root.location("guide");
    }
    config.guide = std::move(section);
  }
  config.guidance = read_guidance(root.table("guidance"), file, catalog);
  if (root.has("guidance") && !config.guide) {
    const toml::table* guidance = root.table("guidance");
    if (config.guidance.enabled) {
      throw ConfigError(location_of(file, *guidance) +
                        ": table [guidance] needs a [guide] table naming the guide architecture "
                        "(or set guidance.enabled = false for an unguided run)");
    }
  }
  config.train = read_train(root.table("train"), file);
  config.record = read_record(root.table("record"), file, catalog);
  root.accept(sweep_layout::kSweepKey);  // expanded before validation; see host/sweep
  root.finish();
  return config;
}

std::string Config::resolved_toml() const {
  auto plugin_table = [](const PluginChoice& choice) {
    toml::table table;
    table.insert(kPluginKey, choice.name);
    for (const auto& [key, value] : choice.params.values()) {
      std::visit(
          [&](const auto& v) {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, bool> || std::is_same_v<T, int64_t> ||
                          std::is_same_v<T, double> || std::is_same_v<T, std::string>) {
              table.insert(key, v);
            } else {
              toml::array array;
              for (const auto& element : v) array.push_back(element);
              table.insert(key, std::move(array));
            }
          },
          value);
    }
    return table;
  };
  toml::table root;
  toml::table run_table = write_keys(run_keys(), run);
  run_table.insert("distributed", write_keys(distributed_keys(), run.distributed));
  root.insert("run", std::move(run_table));
  root.insert("dataset", plugin_table(dataset));
  root.insert("target", plugin_table(target));
  if (guide) {
    toml::table guide_table = plugin_table(guide->architecture);
    guide_table.insert(kGuideInitKey, plugin_table(guide->init));
    root.insert("guide", std::move(guide_table));
  }
  toml::table guidance_table = write_keys(guidance_keys(), guidance);
  if (guidance.layer_map == LayerMapKind::Uniform) {
    guidance_table.insert("layer_map", kUniformLayerMap);
  } else {
    toml::array pairs;
    for (const auto& pair : guidance.pairs) pairs.push_back(toml::array{pair.guide_tap, pair.target_tap});
    guidance_table.insert("layer_map", std::move(pairs));
  }
  guidance_table.insert("distillation", toml::table{{"weight", guidance.distill_weight},
                                                    {"temperature", guidance.distill_temperature}});
  guidance_table.insert("metric", plugin_table(guidance.metric));
  root.insert("guidance", std::move(guidance_table));
  root.insert("train", write_keys(train_keys(), train));
  toml::table record_table = write_keys(record_keys(), record);
  toml::array metrics;
  for (const auto& metric : record.metrics) {
    toml::table entry = plugin_table(metric.plugin);
    entry.insert("name", metric.name);
    metrics.push_back(std::move(entry));
  }
  record_table.insert("metrics", std::move(metrics));
  root.insert("record", std::move(record_table));
  std::ostringstream text;
  text << root;
  return text.str();
}

}  // namespace guidance

