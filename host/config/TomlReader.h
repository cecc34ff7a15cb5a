#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <toml++/toml.h>

#include "guidance/api/Params.h"

namespace guidance {

/// @return "file:line:column" of a node, or "file" when the node has no source position.
std::string location_of(const std::string& file, const toml::node& node);

/// Reads one TOML table of a config with typed, range-checked accessors. Every error is a
/// ConfigError that starts with file:line:column and names the full key path. finish() refuses
/// keys that no accessor asked for, suggesting the closest valid key.
class TomlReader {
 public:
  /// @param table the table read (must outlive the reader)
  /// @param path its dotted key path in the document ("" for the root)
  TomlReader(const toml::table& table, std::string file, std::string path);

  /// @return "path.key" (or "key" at the root).
  std::string key_path(const std::string& key) const;

  /// @return the location of `key`'s value, or of the table when the key is absent.
  std::string location(const std::string& key) const;

  /// Throws ConfigError "<location>: key '<path.key>': <message>".
  [[noreturn]] void fail(const std::string& key, const std::string& message) const;

  bool has(const std::string& key) const;
  const toml::node* node(const std::string& key) const;

  bool boolean(const std::string& key, bool fallback);
  int64_t integer(const std::string& key, int64_t fallback, std::optional<int64_t> min = {},
                  std::optional<int64_t> max = {});
  double real(const std::string& key, double fallback, std::optional<double> min = {},
              std::optional<double> max = {});
  std::string string(const std::string& key, const std::string& fallback,
                     const std::vector<std::string>& choices = {});
  /// A string that must be present.
  std::string required_string(const std::string& key);
  std::vector<int64_t> integers(const std::string& key, std::vector<int64_t> fallback,
                                std::optional<int64_t> min = {});
  std::vector<std::string> strings(const std::string& key, std::vector<std::string> fallback);
  /// @return the sub-table at `key`, or nullptr when absent; fails if the value is not a table.
  const toml::table* table(const std::string& key);

  /// Marks a key as known without reading it (read elsewhere).
  void accept(const std::string& key) { known_.insert(key); }

  /// Refuses every key no accessor asked for.
  void finish() const;

 private:
  const toml::node& require(const std::string& key) const;

  const toml::table& table_;
  std::string file_;
  std::string path_;
  std::set<std::string> known_;
};

/// Checks a plugin's config table against its schema and fills in defaults.
///
/// @param reader the table's reader; keys already accepted on it (such as `plugin`) are skipped
/// @param schema the plugin's parameter schema
/// @param plugin_label e.g. "metric plugin 'linear-cka'", used in messages
/// @return the validated parameters; every schema entry is present with its declared type
/// Throws ConfigError naming file:line:column, the key path and what would be accepted.
Params validate_plugin_table(TomlReader& reader, const std::vector<ParamSpec>& schema,
                             const std::string& plugin_label);

/// @return a value as TOML would write it, e.g. `3`, `0.5`, `"adam"`, `[1, 2]`.
std::string format_param_value(const ParamValue& value);

}  // namespace guidance
