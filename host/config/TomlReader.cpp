#include "host/config/TomlReader.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>

#include "host/common/Errors.h"
#include "host/common/Suggest.h"

namespace guidance {

std::string location_of(const std::string& file, const toml::node& node) {
  // A value from the command line (host/config/Overrides.h) is named by its override.
  const auto& path = node.source().path;
  if (path != nullptr && !path->empty() && *path != file) return *path;
  const auto& begin = node.source().begin;
  if (begin.line == 0) return file;
  return file + ":" + std::to_string(begin.line) + ":" + std::to_string(begin.column);
}

TomlReader::TomlReader(const toml::table& table, std::string file, std::string path)
    : table_(table), file_(std::move(file)), path_(std::move(path)) {}

std::string TomlReader::key_path(const std::string& key) const {
  return path_.empty() ? key : path_ + "." + key;
}

std::string TomlReader::location(const std::string& key) const {
  const toml::node* found = table_.get(key);
  return location_of(file_, found != nullptr ? *found : static_cast<const toml::node&>(table_));
}

void TomlReader::fail(const std::string& key, const std::string& message) const {
  throw ConfigError(location(key) + ": key '" + key_path(key) + "': " + message);
}

bool TomlReader::has(const std::string& key) const { return table_.get(key) != nullptr; }

const toml::node* TomlReader::node(const std::string& key) const { return table_.get(key); }

const toml::node& TomlReader::require(const std::string& key) const {
  const toml::node* found = table_.get(key);
  if (found == nullptr) {
    throw ConfigError(location_of(file_, table_) + ": missing required key '" + key_path(key) +
                      "'" + (path_.empty() ? "" : " in table [" + path_ + "]"));
  }
  return *found;
}

namespace {

const char* type_name(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    default: return "a date or time";
  }
}

std::string number_text(double value) {
  // Integral values (sizes, counts and their bounds) print whole: 1048576, not 1.04858e+06.
  if (std::nearbyint(value) == value && std::fabs(value) < 1e15) {
    return std::to_string(static_cast<long long>(value));
  }
  std::ostringstream text;
  text << std::setprecision(10) << value;
  return text.str();
}

template <typename T>
void check_range(const TomlReader& reader, const std::string& key, T value, std::optional<T> min,
                 std::optional<T> max) {
  if ((min && value < *min) || (max && value > *max)) {
    std::string allowed = min && max   ? "between " + number_text(*min) + " and " + number_text(*max)
                          : min ? "at least " + number_text(*min)
                                : "at most " + number_text(*max);
    reader.fail(key, "value " + number_text(value) + " is out of range: must be " + allowed);
  }
}

}  // namespace

bool TomlReader::boolean(const std::string& key, bool fallback) {
  known_.insert(key);
  if (!has(key)) return fallback;
  const toml::node& value = require(key);
  if (!value.is_boolean()) fail(key, std::string("expected a boolean, got ") + type_name(value));
  return *value.value<bool>();
}

int64_t TomlReader::integer(const std::string& key, int64_t fallback, std::optional<int64_t> min,
                            std::optional<int64_t> max) {
  known_.insert(key);
  if (!has(key)) return fallback;
  const toml::node& value = require(key);
  if (!value.is_integer()) fail(key, std::string("expected an integer, got ") + type_name(value));
  int64_t result = *value.value<int64_t>();
  check_range(*this, key, result, min, max);
  return result;
}

double TomlReader::real(const std::string& key, double fallback, std::optional<double> min,
                        std::optional<double> max) {
  known_.insert(key);
  if (!has(key)) return fallback;
  const toml::node& value = require(key);
  if (!value.is_number()) fail(key, std::string("expected a number, got ") + type_name(value));
  double result = *value.value<double>();
  if (!std::isfinite(result)) fail(key, "expected a finite number");
  check_range(*this, key, result, min, max);
  return result;
}

std::string TomlReader::string(const std::string& key, const std::string& fallback,
                               const std::vector<std::string>& choices) {
  known_.insert(key);
  if (!has(key)) return fallback;
  const toml::node& value = require(key);
  if (!value.is_string()) fail(key, std::string("expected a string, got ") + type_name(value));
  std::string result = *value.value<std::string>();
  if (!choices.empty() && std::find(choices.begin(), choices.end(), result) == choices.end()) {
    fail(key, "'" + result + "' is not one of " + quoted_list(choices) +
                  did_you_mean(result, choices));
  }
  return result;
}

std::string TomlReader::required_string(const std::string& key) {
  require(key);
  return string(key, "");
}

std::vector<int64_t> TomlReader::integers(const std::string& key, std::vector<int64_t> fallback,
                                          std::optional<int64_t> min) {
  known_.insert(key);
  if (!has(key)) return fallback;
  const toml::node& value = require(key);
  const toml::array* array = value.as_array();
  if (array == nullptr) fail(key, std::string("expected a list of integers, got ") + type_name(value));
  std::vector<int64_t> result;
  for (const auto& element : *array) {
    if (!element.is_integer()) {
      throw ConfigError(location_of(file_, element) + ": key '" + key_path(key) +
                        "': expected a list of integers, found " + type_name(element));
    }
    result.push_back(*element.value<int64_t>());
    check_range(*this, key, result.back(), min, std::optional<int64_t>{});
  }
  return result;
}

std::vector<std::string> TomlReader::strings(const std::string& key,
                                             std::vector<std::string> fallback) {
  known_.insert(key);
  if (!has(key)) return fallback;
  const toml::node& value = require(key);
  const toml::array* array = value.as_array();
  if (array == nullptr) fail(key, std::string("expected a list of strings, got ") + type_name(value));
  std::vector<std::string> result;
  for (const auto& element : *array) {
    if (!element.is_string()) {
      throw ConfigError(location_of(file_, element) + ": key '" + key_path(key) +
                        "': expected a list of strings, found " + type_name(element));
    }
    result.push_back(*element.value<std::string>());
  }
  return result;
}

const toml::table* TomlReader::table(const std::string& key) {
  known_.insert(key);
  if (!has(key)) return nullptr;
  const toml::node& value = require(key);
  if (!value.is_table()) fail(key, std::string("expected a table, got ") + type_name(value));
  return value.as_table();
}

void TomlReader::finish() const {
  std::vector<std::string> valid(known_.begin(), known_.end());
  for (const auto& [key, value] : table_) {
    std::string name(key.str());
    if (known_.count(name) != 0) continue;
    const auto& begin = key.source().begin;
    std::string where = begin.line == 0 ? location_of(file_, value)
                                        : file_ + ":" + std::to_string(begin.line) + ":" +
                                              std::to_string(begin.column);
    throw ConfigError(where + ": unknown key '" + key_path(name) + "'" +
                      did_you_mean(name, valid) + "; valid keys" +
                      (path_.empty() ? "" : " in [" + path_ + "]") + ": " + quoted_list(valid));
  }
}

namespace {

std::string allowed_text(const ParamSpec& spec) {
  std::string text = to_string(spec.type);
  if (!spec.choices.empty()) text += ", one of " + quoted_list(spec.choices);
  if (spec.min && spec.max) {
    text += " between " + number_text(*spec.min) + " and " + number_text(*spec.max);
  } else if (spec.min) {
    text += " at least " + number_text(*spec.min);
  } else if (spec.max) {
    text += " at most " + number_text(*spec.max);
  }
  return text;
}

}  // namespace

Params validate_plugin_table(TomlReader& reader, const std::vector<ParamSpec>& schema,
                             const std::string& plugin_label) {
  Params params;
  for (const ParamSpec& spec : schema) {
    const std::string& key = spec.name;
    if (!reader.has(key)) {
      if (spec.required) {
        reader.fail(key, "required by " + plugin_label + " (" + spec.doc + "), expected " +
                             allowed_text(spec));
      }
      reader.accept(key);
      params.set(key, spec.default_value);
      continue;
    }
    const toml::node& node = *reader.node(key);
    auto mismatch = [&] {
      reader.fail(key, "expected " + allowed_text(spec) + " for " + plugin_label + ", got " +
                           type_name(node));
    };
    auto bounded = [&](double value) {
      if ((spec.min && value < *spec.min) || (spec.max && value > *spec.max)) {
        reader.fail(key, "value " + number_text(value) + " is out of range for " + plugin_label +
                             ": must be " + allowed_text(spec));
      }
    };
    switch (spec.type) {
      case ParamType::Bool:
        if (!node.is_boolean()) mismatch();
        params.set(key, reader.boolean(key, false));
        break;
      case ParamType::Int: {
        if (!node.is_integer()) mismatch();
        int64_t value = reader.integer(key, 0);
        bounded(static_cast<double>(value));
        params.set(key, value);
        break;
      }
      case ParamType::Float: {
        if (!node.is_number()) mismatch();
        double value = reader.real(key, 0.0);
        bounded(value);
        params.set(key, value);
        break;
      }
      case ParamType::String: {
        if (!node.is_string()) mismatch();
        params.set(key, reader.string(key, "", spec.choices));
        break;
      }
      case ParamType::IntList: {
        if (!node.is_array()) mismatch();
        std::vector<int64_t> values = reader.integers(key, {});
        for (int64_t value : values) bounded(static_cast<double>(value));
        params.set(key, values);
        break;
      }
      case ParamType::FloatList: {
        const toml::array* array = node.as_array();
        if (array == nullptr) mismatch();
        reader.accept(key);
        std::vector<double> values;
        for (const auto& element : *array) {
          if (!element.is_number()) mismatch();
          values.push_back(*element.value<double>());
          bounded(values.back());
        }
        params.set(key, values);
        break;
      }
      case ParamType::StringList: {
        if (!node.is_array()) mismatch();
        std::vector<std::string> values = reader.strings(key, {});
        for (const auto& value : values) {
          if (!spec.choices.empty() &&
              std::find(spec.choices.begin(), spec.choices.end(), value) == spec.choices.end()) {
            reader.fail(key, "'" + value + "' is not one of " + quoted_list(spec.choices) +
                                 did_you_mean(value, spec.choices));
          }
        }
        params.set(key, values);
        break;
      }
    }
  }
  reader.finish();
  return params;
}

std::string format_param_value(const ParamValue& value) {
  std::ostringstream text;
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, bool>) {
          text << (v ? "true" : "false");
        } else if constexpr (std::is_same_v<T, std::string>) {
          text << '"' << v << '"';
        } else if constexpr (std::is_same_v<T, int64_t> || std::is_same_v<T, double>) {
          text << v;
        } else {
          text << '[';
          for (size_t i = 0; i < v.size(); ++i) {
            if (i) text << ", ";
            if constexpr (std::is_same_v<typename T::value_type, std::string>) {
              text << '"' << v[i] << '"';
            } else {
              text << v[i];
            }
          }
          text << ']';
        }
      },
      value);
  return text.str();
}

}  // namespace guidance
