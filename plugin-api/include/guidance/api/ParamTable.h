#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "guidance/api/Params.h"

namespace guidance {

/// A plugin's parameters declared once, as members of its options struct (the way LibTorch's
/// TORCH_ARG declares a module's options): each entry names a parameter, binds it to a member and
/// takes its default from the table's default Options (the struct's own initialisers unless
/// given). `specs()` is the schema info() returns; `read()` fills an Options from the validated
/// Params build() receives, so a parameter cannot be declared under one name and read under
/// another, or read with another type. Bounds and choices chain onto the last entry:
///
///     struct MlpOptions { int64_t depth = 3; bool batch_norm = false; };
///     const ParamTable<MlpOptions>& mlp_params() {
///       static const ParamTable<MlpOptions> table = ParamTable<MlpOptions>()
///           .add("depth", &MlpOptions::depth, "hidden layers").between(1, 1000)
///           .add("batch_norm", &MlpOptions::batch_norm, "batch norm after each layer");
///       return table;
///     }
///     MlpOptions options = mlp_params().read(params);
template <typename Options>
class ParamTable {
 public:
  explicit ParamTable(Options defaults = Options()) : defaults_(std::move(defaults)) {}

  /// Declares parameter `name` of member `member`, whose type picks the parameter's: bool,
  /// int64_t, double, std::string or a std::vector of int64_t, double or std::string.
  template <typename T>
  ParamTable&& add(std::string name, T Options::*member, std::string doc) && {
    Entry entry;
    entry.spec.name = name;
    entry.spec.type = type_of<T>();
    entry.spec.doc = std::move(doc);
    entry.value_of = [member](const Options& options) { return ParamValue(options.*member); };
    entry.read = [name, member](const Params& params, Options& options) {
      options.*member = params.get<T>(name);
    };
    return std::move(push(std::move(entry)));
  }

  /// Declares parameter `name` of member `member`, a value chosen by name among `choices` (an
  /// enum, say): a string parameter restricted to the names, read back as the named value.
  template <typename T>
  ParamTable&& add_choice(std::string name, T Options::*member, std::string doc,
                          std::vector<std::pair<std::string, T>> choices) && {
    Entry entry;
    entry.spec.name = name;
    entry.spec.type = ParamType::String;
    entry.spec.doc = std::move(doc);
    for (const auto& choice : choices) entry.spec.choices.push_back(choice.first);
    entry.value_of = [member, choices](const Options& options) {
      for (const auto& [choice, value] : choices) {
        if (value == options.*member) return ParamValue(choice);
      }
      throw ParamAccessError("a default is not among its parameter's choices");
    };
    entry.read = [name, member, choices](const Params& params, Options& options) {
      const std::string& chosen = params.string(name);
      for (const auto& [choice, value] : choices) {
        if (choice == chosen) {
          options.*member = value;
          return;
        }
      }
      throw ParamAccessError("parameter '" + name + "' holds '" + chosen +
                             "', which is not one of its choices");
    };
    return std::move(push(std::move(entry)));
  }

  /// Declares every parameter of `nested` as this table's, bound to the member `member` (a group
  /// of options several plugins share, such as a transformer's sizes); their defaults are those
  /// of this table's default Options.
  template <typename Nested>
  ParamTable&& add_all(Nested Options::*member, const ParamTable<Nested>& nested) && {
    for (const auto& inner : nested.entries_) {
      Entry entry;
      entry.spec = inner.spec;
      entry.value_of = [member, value_of = inner.value_of](const Options& options) {
        return value_of(options.*member);
      };
      entry.read = [member, read = inner.read](const Params& params, Options& options) {
        read(params, options.*member);
      };
      push(std::move(entry));
    }
    return std::move(*this);
  }

  /// Bounds, choices and requiredness of the entry declared last (see ParamSpec).
  ParamTable&& at_least(double bound) && {
    last().min = bound;
    return std::move(*this);
  }
  ParamTable&& at_most(double bound) && {
    last().max = bound;
    return std::move(*this);
  }
  ParamTable&& between(double low, double high) && {
    last().min = low;
    last().max = high;
    return std::move(*this);
  }
  ParamTable&& one_of(std::vector<std::string> allowed) && {
    last().choices = std::move(allowed);
    return std::move(*this);
  }
  ParamTable&& mandatory() && {
    last().required = true;
    return std::move(*this);
  }

  /// @return the schema: one ParamSpec per declared parameter, in declaration order.
  std::vector<ParamSpec> specs() const {
    std::vector<ParamSpec> specs;
    for (const auto& entry : entries_) specs.push_back(entry.spec);
    return specs;
  }

  /// @return the options held by validated `params` (every declared parameter present, as the
  /// host guarantees); members without a parameter keep the defaults.
  Options read(const Params& params) const {
    Options options = defaults_;
    for (const auto& entry : entries_) entry.read(params, options);
    return options;
  }

 private:
  template <typename>
  friend class ParamTable;

  struct Entry {
    ParamSpec spec;
    std::function<ParamValue(const Options&)> value_of;
    std::function<void(const Params&, Options&)> read;
  };

  template <typename T>
  static ParamType type_of() {
    if constexpr (std::is_same_v<T, bool>) return ParamType::Bool;
    else if constexpr (std::is_same_v<T, int64_t>) return ParamType::Int;
    else if constexpr (std::is_same_v<T, double>) return ParamType::Float;
    else if constexpr (std::is_same_v<T, std::string>) return ParamType::String;
    else if constexpr (std::is_same_v<T, std::vector<int64_t>>) return ParamType::IntList;
    else if constexpr (std::is_same_v<T, std::vector<double>>) return ParamType::FloatList;
    else if constexpr (std::is_same_v<T, std::vector<std::string>>) return ParamType::StringList;
    else static_assert(sizeof(T) == 0, "a parameter is a bool, int64_t, double, std::string or a vector of those");
  }

  ParamTable& push(Entry entry) {
    entry.spec.default_value = entry.value_of(defaults_);
    entries_.push_back(std::move(entry));
    return *this;
  }

  ParamSpec& last() {
    if (entries_.empty()) throw ParamAccessError("a bound or choice declared before any parameter");
    return entries_.back().spec;
  }

  Options defaults_;
  std::vector<Entry> entries_;
};

}  // namespace guidance
