#include "host/config/Overrides.h"

#include <sstream>

#include "host/common/Errors.h"
#include "host/config/Config.h"
#include "host/config/SweepLayout.h"

namespace guidance {

namespace {

using sweep_layout::kSweepKey;
using sweep_layout::kZipKey;

bool is_bare_key_part(const std::string& part) {
  if (part.empty()) return false;
  for (char c : part) {
    bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!letter && c != '_' && c != '-') return false;
  }
  return true;
}

std::vector<std::string> key_parts(const std::string& key, const std::string& where) {
  std::vector<std::string> parts;
  std::stringstream stream(key);
  for (std::string part; std::getline(stream, part, '.');) parts.push_back(part);
  bool valid = !key.empty() && key.back() != '.' &&
               parts.size() <= static_cast<size_t>(config_limits::kMaxDottedKeyParts);
  for (const auto& part : parts) valid = valid && is_bare_key_part(part);
  if (!valid) {
    throw ConfigError(where + ": '" + key + "' is not a dotted key of bare TOML keys (letters, "
                      "digits, '_' and '-'), e.g. train.epochs");
  }
  return parts;
}

/// Splits at the commas outside brackets, braces and quotes: `a,b` gives two items, `[1, 2]` and
/// `"a,b"` one.
std::vector<std::string> top_level_items(const std::string& text) {
  std::vector<std::string> items(1);
  int depth = 0;
  char quote = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quote != 0) {
      if (c == '\\' && quote == '"' && i + 1 < text.size()) {
        items.back() += c;
        c = text[++i];
      } else if (c == quote) {
        quote = 0;
      }
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '[' || c == '{') {
      ++depth;
    } else if (c == ']' || c == '}') {
      --depth;
    } else if (c == ',' && depth == 0) {
      items.emplace_back();
      continue;
    }
    items.back() += c;
  }
  return items;
}

/// One value as TOML text: the item itself when it is TOML, else the item quoted when it is a bare
/// string (`adam`).
std::string toml_text(const std::string& item, const std::string& where) {
  try {
    toml::parse("value = " + item);
    return item;
  } catch (const toml::parse_error& error) {
    bool bare = !item.empty() && item.find_first_of("\"'[]{}=#\n") == std::string::npos;
    if (!bare) {
      throw ConfigError(where + ": the value '" + item + "' is not TOML (" +
                        std::string(error.description()) +
                        "); quote a string, e.g. key='\"text\"'");
    }
    std::ostringstream quoted;
    quoted << toml::value<std::string>(item);
    return quoted.str();
  }
}

/// Sets `table[key]` to the value `text`, parsed with the override as its source path (so
/// location_of names it) on line `line`: axes from the command line sort after the file's (on
/// line 1 on) and among themselves in the order given. The node is moved, not copied: a copy
/// would drop its source.
void assign_parsed(toml::table& table, const std::string& key, const std::string& text,
                   const std::string& where, size_t line) {
  toml::table holder = toml::parse(std::string(line - 1, '\n') + "value = " + text, where);
  table.insert_or_assign(key, std::move(*holder.get("value")));
}

const toml::table* zip_groups(const toml::table& root) {
  const toml::table* sweep = root[kSweepKey].as_table();
  return sweep != nullptr ? (*sweep)[kZipKey].as_table() : nullptr;
}

void refuse_zipped(const toml::table& root, const std::string& key, const std::string& where) {
  const toml::table* zip = zip_groups(root);
  if (zip == nullptr) return;
  for (const auto& [group, keys] : *zip) {
    const toml::table* table = keys.as_table();
    if (table != nullptr && table->contains(key)) {
      throw ConfigError(where + ": '" + key + "' varies in the sweep's zip group '" +
                        std::string(group.str()) +
                        "'; change its lists in the config, where its keys vary together");
    }
  }
}

toml::table& sweep_table(toml::table& root, const std::string& where) {
  if (!root.contains(kSweepKey)) root.insert(kSweepKey, toml::table{});
  toml::table* sweep = root[kSweepKey].as_table();
  if (sweep == nullptr) throw ConfigError(where + ": the config's 'sweep' is not a table");
  return *sweep;
}

void apply_one(toml::table& root, const std::string& assignment, bool multirun, size_t line) {
  const std::string where = override_source(assignment);
  size_t equals = assignment.find('=');
  if (equals == std::string::npos) {
    throw ConfigError(where + ": expected key=value, e.g. train.epochs=2 (a config file is the "
                      "first argument; everything after it is an override)");
  }
  const std::string key = assignment.substr(0, equals);
  const std::string text = assignment.substr(equals + 1);
  std::vector<std::string> parts = key_parts(key, where);
  if (parts.front() == kSweepKey) {
    throw ConfigError(where + ": a sweep is changed through its keys: key=a,b,c with --multirun");
  }
  refuse_zipped(root, key, where);

  std::vector<std::string> items = top_level_items(text);
  if (items.size() > 1 && multirun) {
    std::string values;
    for (const auto& item : items) values += (values.empty() ? "" : ", ") + toml_text(item, where);
    assign_parsed(sweep_table(root, where), key, "[" + values + "]", where, line);
    return;
  }
  if (items.size() > 1) {
    // A TOML value with a comma of its own (an array, a quoted string) is one value.
    try {
      toml::parse("value = " + text);
    } catch (const toml::parse_error&) {
      throw ConfigError(where + ": a list of values sweeps the key: add --multirun (-m), or "
                        "quote one string holding commas, e.g. key='\"a,b\"'");
    }
  }

  toml::table* table = &root;
  std::string path;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    path += (path.empty() ? "" : ".") + parts[i];
    if (!table->contains(parts[i])) table->insert(parts[i], toml::table{});
    table = (*table)[parts[i]].as_table();
    if (table == nullptr) {
      throw ConfigError(where + ": '" + path + "' holds a value, not a table, in the config");
    }
  }
  assign_parsed(*table, parts.back(), toml_text(text, where), where, line);
  // Set here, the key no longer varies: the override wins over a crossed axis of the file.
  if (toml::table* sweep = root[kSweepKey].as_table()) sweep->erase(key);
}

}  // namespace

std::vector<std::string> ConfigOverrides::arguments() const {
  std::vector<std::string> arguments;
  if (multirun) arguments.push_back("--multirun");
  arguments.insert(arguments.end(), assignments.begin(), assignments.end());
  return arguments;
}

std::string override_source(const std::string& assignment) {
  return "command-line override '" + assignment + "'";
}

void apply_overrides(toml::table& root, const ConfigOverrides& overrides) {
  for (size_t i = 0; i < overrides.assignments.size(); ++i) {
    apply_one(root, overrides.assignments[i], overrides.multirun, i + 1);
  }
}

}  // namespace guidance
