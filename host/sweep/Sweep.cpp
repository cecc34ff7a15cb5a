#include "host/sweep/Sweep.h"

#include <algorithm>
#include <map>
#include <sstream>

#include "host/common/Errors.h"
#include "host/config/TomlReader.h"

namespace guidance {

namespace {

struct Axis {
  std::string path;
  std::vector<std::string> components;
  std::string label;
  const toml::array* values = nullptr;
  std::vector<std::string> names;  ///< each value's name in run names, unique within the axis
};

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  std::stringstream stream(path);
  for (std::string part; std::getline(stream, part, '.');) parts.push_back(part);
  return parts;
}

std::string value_text(const toml::node& node) {
  if (const auto* text = node.as_string()) return text->get();
  // A whole plugin table (e.g. "guide.init" = [{ plugin = "trained", epochs = 2 }, ...]) is
  // named by its plugin.
  if (const auto* table = node.as_table()) {
    if (const auto* plugin = table->get_as<std::string>("plugin")) return plugin->get();
  }
  std::ostringstream out;
  node.visit([&](const auto& value) { out << value; });
  return out.str();
}

/// Sets root[components] = value, creating intermediate tables.
void assign(toml::table& root, const Axis& axis, const toml::node& value,
            const std::string& file) {
  toml::table* table = &root;
  for (size_t i = 0; i + 1 < axis.components.size(); ++i) {
    toml::node* next = table->get(axis.components[i]);
    if (next == nullptr) {
      table->insert(axis.components[i], toml::table{});
      next = table->get(axis.components[i]);
    }
    if (!next->is_table()) {
      throw ConfigError(location_of(file, *axis.values) + ": sweep axis '" + axis.path + "': '" +
                        axis.components[i] + "' is not a table in the config");
    }
    table = next->as_table();
  }
  table->insert_or_assign(axis.components.back(), value);
}

}  // namespace

std::vector<SweepRun> expand_sweep(const ConfigDocument& document) {
  const toml::node* sweep_node = document.root->get("sweep");
  auto base_name = [&] {
    const toml::node* name = document.root->at_path("run.name").node();
    return name != nullptr && name->is_string() ? *name->value<std::string>() : std::string();
  };
  if (sweep_node == nullptr) return {SweepRun{document, base_name(), {}}};
  const toml::table* sweep = sweep_node->as_table();
  if (sweep == nullptr) {
    throw ConfigError(location_of(document.path, *sweep_node) +
                      ": key 'sweep': expected a table of \"<key path>\" = [values...]");
  }
  std::vector<Axis> axes;
  std::map<std::string, int> label_uses;
  for (const auto& [key, value] : *sweep) {
    Axis axis;
    axis.path = std::string(key.str());
    axis.components = split_path(axis.path);
    axis.values = value.as_array();
    if (axis.values == nullptr || axis.values->empty()) {
      throw ConfigError(location_of(document.path, value) + ": sweep axis '" + axis.path +
                        "': expected a non-empty list of values");
    }
    if (axis.components.empty() || axis.components.front() == "sweep") {
      throw ConfigError(location_of(document.path, value) + ": sweep axis '" + axis.path +
                        "' is not a key path of the config");
    }
    axis.label = axis.components.back();
    ++label_uses[axis.label];
    axes.push_back(axis);
  }
  for (auto& axis : axes) {
    if (label_uses[axis.label] > 1) axis.label = axis.path;
    // Values that print alike (two tables of one plugin) are told apart by their position.
    std::map<std::string, int> uses;
    for (const auto& value : *axis.values) ++uses[value_text(value)];
    for (size_t i = 0; i < axis.values->size(); ++i) {
      std::string text = value_text(*axis.values->get(i));
      axis.names.push_back(uses[text] > 1 ? text + "-" + std::to_string(i + 1) : text);
    }
  }
  // toml++ keeps keys sorted; cross the axes in the order the file lists them.
  std::stable_sort(axes.begin(), axes.end(), [](const Axis& a, const Axis& b) {
    return a.values->source().begin < b.values->source().begin;
  });

  std::vector<SweepRun> runs;
  std::vector<size_t> choice(axes.size(), 0);
  while (true) {
    SweepRun run;
    // Parsed afresh rather than copied: toml++ copies drop source positions, and every later
    // error must still name its line.
    run.document = ConfigDocument::parse(document.path);
    run.document.root->erase("sweep");
    std::string suffix;
    for (size_t a = 0; a < axes.size(); ++a) {
      const toml::node& value = *axes[a].values->get(choice[a]);
      assign(*run.document.root, axes[a], value, document.path);
      std::string text = value_text(value);
      run.settings.emplace_back(axes[a].path, text);
      suffix += (suffix.empty() ? "" : ",") + axes[a].label + "=" + axes[a].names[choice[a]];
    }
    run.name = base_name() + "/" + suffix;
    if (toml::table* section = (*run.document.root)["run"].as_table()) {
      section->insert_or_assign("name", run.name);
    }
    runs.push_back(std::move(run));
    size_t a = axes.size();
    while (a > 0) {
      --a;
      if (++choice[a] < axes[a].values->size()) break;
      choice[a] = 0;
      if (a == 0) return runs;
    }
    if (axes.empty()) return runs;
  }
}

std::vector<size_t> shard_positions(size_t runs, int index, int count) {
  if (count < 1 || index < 0 || index >= count) {
    throw UsageError("shard " + std::to_string(index) + "/" + std::to_string(count) +
                     " is invalid: use --shard I/N with 0 <= I < N");
  }
  std::vector<size_t> positions;
  for (size_t i = static_cast<size_t>(index); i < runs; i += static_cast<size_t>(count)) {
    positions.push_back(i);
  }
  return positions;
}

}  // namespace guidance
