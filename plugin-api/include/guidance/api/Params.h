#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

namespace guidance {

/// The types a plugin parameter can take; each maps to one TOML value type.
enum class ParamType { Bool, Int, Float, String, IntList, FloatList, StringList };

/// A parameter value. The alternative held always matches the declared ParamType.
using ParamValue = std::variant<bool, int64_t, double, std::string, std::vector<int64_t>,
                                std::vector<double>, std::vector<std::string>>;

/// @return the TOML-facing name of a type ("integer", "float", "list of strings", ...).
inline const char* to_string(ParamType type) {
  switch (type) {
    case ParamType::Bool: return "boolean";
    case ParamType::Int: return "integer";
    case ParamType::Float: return "float";
    case ParamType::String: return "string";
    case ParamType::IntList: return "list of integers";
    case ParamType::FloatList: return "list of floats";
    case ParamType::StringList: return "list of strings";
  }
  return "unknown";
}

/// One entry of a plugin's parameter schema: name, type, default, doc and what is allowed.
/// Built with the chainable helpers, e.g.
/// `ParamSpec::integer("depth", 8, "hidden layers").at_least(1)`.
struct ParamSpec {
  std::string name;
  ParamType type = ParamType::Int;
  ParamValue default_value;
  std::string doc;
  std::optional<double> min;          ///< inclusive lower bound (numbers, and each list element)
  std::optional<double> max;          ///< inclusive upper bound
  std::vector<std::string> choices;   ///< allowed strings; empty means any
  bool required = false;              ///< no default: the config must set it

  static ParamSpec boolean(std::string name, bool value, std::string doc) {
    return make(std::move(name), ParamType::Bool, value, std::move(doc));
  }
  static ParamSpec integer(std::string name, int64_t value, std::string doc) {
    return make(std::move(name), ParamType::Int, value, std::move(doc));
  }
  static ParamSpec real(std::string name, double value, std::string doc) {
    return make(std::move(name), ParamType::Float, value, std::move(doc));
  }
  static ParamSpec string(std::string name, std::string value, std::string doc) {
    return make(std::move(name), ParamType::String, std::move(value), std::move(doc));
  }
  static ParamSpec integers(std::string name, std::vector<int64_t> value, std::string doc) {
    return make(std::move(name), ParamType::IntList, std::move(value), std::move(doc));
  }
  static ParamSpec reals(std::string name, std::vector<double> value, std::string doc) {
    return make(std::move(name), ParamType::FloatList, std::move(value), std::move(doc));
  }
  static ParamSpec strings(std::string name, std::vector<std::string> value, std::string doc) {
    return make(std::move(name), ParamType::StringList, std::move(value), std::move(doc));
  }

  ParamSpec at_least(double bound) && { min = bound; return std::move(*this); }
  ParamSpec at_most(double bound) && { max = bound; return std::move(*this); }
  ParamSpec between(double low, double high) && {
    min = low;
    max = high;
    return std::move(*this);
  }
  ParamSpec one_of(std::vector<std::string> allowed) && {
    choices = std::move(allowed);
    return std::move(*this);
  }
  /// Marks the parameter as having no usable default: configs must set it.
  ParamSpec mandatory() && { required = true; return std::move(*this); }

 private:
  static ParamSpec make(std::string name, ParamType type, ParamValue value, std::string doc) {
    ParamSpec spec;
    spec.name = std::move(name);
    spec.type = type;
    spec.default_value = std::move(value);
    spec.doc = std::move(doc);
    return spec;
  }
};

/// Raised by Params when a plugin asks for a parameter it did not declare, or with the wrong type:
/// a bug in the plugin, never in the user's config (the host validated that already).
class ParamAccessError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

/// A validated set of parameter values: every declared parameter is present with its declared
/// type (the host fills in defaults before a plugin sees it).
class Params {
 public:
  Params() = default;
  explicit Params(std::map<std::string, ParamValue> values) : values_(std::move(values)) {}

  bool has(const std::string& name) const { return values_.count(name) != 0; }
  const std::map<std::string, ParamValue>& values() const { return values_; }
  void set(const std::string& name, ParamValue value) { values_[name] = std::move(value); }

  /// @return the value of `name` as T; throws ParamAccessError if absent or of another type.
  template <typename T>
  const T& get(const std::string& name) const {
    auto found = values_.find(name);
    if (found == values_.end()) {
      throw ParamAccessError("parameter '" + name + "' was not declared by this plugin");
    }
    const T* value = std::get_if<T>(&found->second);
    if (value == nullptr) {
      throw ParamAccessError("parameter '" + name + "' is read with a type other than declared");
    }
    return *value;
  }
  bool boolean(const std::string& name) const { return get<bool>(name); }
  int64_t integer(const std::string& name) const { return get<int64_t>(name); }
  double real(const std::string& name) const { return get<double>(name); }
  const std::string& string(const std::string& name) const { return get<std::string>(name); }
  const std::vector<int64_t>& integers(const std::string& name) const {
    return get<std::vector<int64_t>>(name);
  }
  const std::vector<double>& reals(const std::string& name) const {
    return get<std::vector<double>>(name);
  }
  const std::vector<std::string>& strings(const std::string& name) const {
    return get<std::vector<std::string>>(name);
  }

 private:
  std::map<std::string, ParamValue> values_;
};

/// @return the defaults of a schema as Params (required parameters are left out).
inline Params defaults_of(const std::vector<ParamSpec>& schema) {
  Params params;
  for (const auto& spec : schema) {
    if (!spec.required) params.set(spec.name, spec.default_value);
  }
  return params;
}

}  // namespace guidance
