#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <toml++/toml.h>

#include "guidance/api/Params.h"
#include "host/common/EnumNames.h"
#include "host/config/TomlReader.h"

namespace guidance {

/// Ends the doc of a key declared leaves_results() in the key tables.
inline constexpr const char* kLeavesResultsMark = "*(leaves results)*";
/// Ends the doc of a key declared trains_guide() in the key tables.
inline constexpr const char* kTrainsGuideMark = "*(trains the guide)*";

/// One row of a section's key table, as docs/config.md shows it (markdown cells).
struct KeyReference {
  std::string key;            ///< "`learning_rate`"
  std::string type;           ///< "float", "list of strings", ...
  std::string default_value;  ///< "`0.001`", "`\"adam\"`", "`[]`", or "required"
  std::string allowed;        ///< "≥ 0", "1–2²⁰", "`\"adam\"`, `\"sgd\"`", or ""
  std::string doc;            ///< the key's one-line doc
};

/// @return `value` as docs and help write a bound: whole numbers plain, powers of ten from 10⁶
/// and powers of two from 2²⁰ as powers (`10⁶`, `2²⁰`), others with up to 10 digits.
std::string bound_text(double value);

/// @return a TOML value as docs write a default: strings in double quotes, lists in brackets.
std::string value_text(const toml::node& value);

/// One key of a config section, declared once: its name, the member it fills, what is allowed
/// and a one-line doc. Its default is the member's value in a default-constructed Section. A
/// section's declarations drive its reading and validation (read_keys), its part of the
/// resolved TOML (write_keys) and its table in docs/config.md (reference(), checked by a test).
///
///     KeySpec<TrainSection>("batch_size", &TrainSection::batch_size, "examples per micro-batch")
///         .between(1, 1 << 20)
template <typename Section>
class KeySpec {
 public:
  /// A key stored in `member`: bool, int64_t, uint64_t (at least 0), double, std::string, or a
  /// list of strings or integers. `member` may belong to a base of Section.
  template <typename Member>
  KeySpec(std::string name, Member member, std::string doc);

  /// A closed set of strings stored as an enum: the config spells value i as names[i].
  template <typename Member, size_t N>
  KeySpec(std::string name, Member member, const std::array<const char*, N>& names,
          std::string doc);

  /// A key with a structured value that its section's reader reads by hand; declared for the
  /// reference only. `type`, `default_text` and `allowed` are markdown cells.
  static KeySpec by_hand(std::string name, std::string type, std::string default_text,
                         std::string allowed, std::string doc) {
    KeySpec spec(std::move(name), std::move(doc));
    spec.type_ = std::move(type);
    spec.default_text_ = std::move(default_text);
    spec.allowed_ = std::move(allowed);
    return spec;
  }

  KeySpec at_least(double bound) && { min_ = bound; return std::move(*this); }
  KeySpec at_most(double bound) && { max_ = bound; return std::move(*this); }
  KeySpec between(double low, double high) && {
    min_ = low;
    max_ = high;
    return std::move(*this);
  }
  /// Allowed strings of a string key.
  KeySpec one_of(std::vector<std::string> choices) && {
    choices_ = std::move(choices);
    return std::move(*this);
  }
  /// The key has no default: configs must set it.
  KeySpec required() && { required_ = true; return std::move(*this); }
  /// The key cannot change what a run trains and measures (where it runs from, what it logs or
  /// records, how big its evaluation batches are): runs that differ only in such keys are one
  /// cell of a study (leaves_results in ConfigKeys.h).
  KeySpec leaves_results() && { affects_results_ = false; return std::move(*this); }
  /// A trained guide's own training reads the key, so its value is part of the key the trained
  /// guide is cached under (guide_training_settings in ConfigKeys.h): a guide trained under
  /// another value is trained again, and one trained under the same value is reused.
  KeySpec trains_guide() && { trains_guide_ = true; return std::move(*this); }
  /// What is allowed, for a key whose value the section's reader checks further by hand
  /// (a markdown cell).
  KeySpec allowing(std::string allowed) && {
    allowed_ = std::move(allowed);
    return std::move(*this);
  }

  const std::string& name() const { return name_; }
  bool read_by_hand() const { return !read_; }
  bool affects_results() const { return affects_results_; }
  bool read_by_guide_training() const { return trains_guide_; }

  /// Reads the key into `section` (its current value is the default), checking type and range.
  void read(TomlReader& reader, Section& section) const { read_(*this, reader, section); }
  /// Inserts the key's value in `section` into `table`.
  void write(const Section& section, toml::table& table) const { write_(section, table); }

  KeyReference reference() const;

 private:
  KeySpec(std::string name, std::string doc) : name_(std::move(name)), doc_(std::move(doc)) {}

  template <typename T>
  std::optional<T> bound(const std::optional<double>& value) const {
    if (!value) return std::nullopt;
    return static_cast<T>(*value);
  }

  std::string name_;
  std::string doc_;
  std::string type_;
  std::optional<double> min_;
  std::optional<double> max_;
  std::vector<std::string> choices_;
  bool required_ = false;
  bool affects_results_ = true;
  bool trains_guide_ = false;
  std::string allowed_;       ///< overrides the text made from range and choices
  std::string default_text_;  ///< by-hand keys only
  std::function<void(const KeySpec&, TomlReader&, Section&)> read_;
  std::function<void(const Section&, toml::table&)> write_;
};

namespace key_spec_detail {

template <typename Member>
struct MemberOf;
template <typename T, typename Owner>
struct MemberOf<T Owner::*> {
  using type = T;
};

template <typename T>
constexpr bool kIsList = false;
template <typename T>
constexpr bool kIsList<std::vector<T>> = true;

template <typename T>
ParamType param_type() {
  if constexpr (std::is_same_v<T, bool>) {
    return ParamType::Bool;
  } else if constexpr (std::is_same_v<T, double>) {
    return ParamType::Float;
  } else if constexpr (std::is_integral_v<T>) {
    return ParamType::Int;
  } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
    return ParamType::StringList;
  } else if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
    return ParamType::IntList;
  } else {
    return ParamType::String;
  }
}

template <typename T>
toml::array to_array(const std::vector<T>& values) {
  toml::array array;
  for (const auto& value : values) array.push_back(value);
  return array;
}

}  // namespace key_spec_detail

template <typename Section>
template <typename Member>
KeySpec<Section>::KeySpec(std::string name, Member member_of_base, std::string doc)
    : KeySpec(std::move(name), std::move(doc)) {
  using T = typename key_spec_detail::MemberOf<Member>::type;
  T Section::*member = member_of_base;
  type_ = to_string(key_spec_detail::param_type<T>());
  read_ = [member](const KeySpec& spec, TomlReader& reader, Section& section) {
    T& value = section.*member;
    const std::string& key = spec.name_;
    if constexpr (std::is_same_v<T, bool>) {
      value = reader.boolean(key, value);
    } else if constexpr (std::is_same_v<T, int64_t>) {
      value = reader.integer(key, value, spec.bound<int64_t>(spec.min_),
                             spec.bound<int64_t>(spec.max_));
    } else if constexpr (std::is_same_v<T, uint64_t>) {
      value = static_cast<uint64_t>(reader.integer(key, static_cast<int64_t>(value),
                                                   spec.bound<int64_t>(spec.min_.value_or(0)),
                                                   spec.bound<int64_t>(spec.max_)));
    } else if constexpr (std::is_same_v<T, double>) {
      value = reader.real(key, value, spec.min_, spec.max_);
    } else if constexpr (std::is_same_v<T, std::string>) {
      value = spec.required_ ? reader.required_string(key)
                             : reader.string(key, value, spec.choices_);
    } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
      value = reader.strings(key, value);
    } else {
      static_assert(std::is_same_v<T, std::vector<int64_t>>, "a config key of an unsupported type");
      value = reader.integers(key, value, spec.bound<int64_t>(spec.min_));
    }
  };
  write_ = [member, key = name_](const Section& section, toml::table& table) {
    const T& value = section.*member;
    if constexpr (key_spec_detail::kIsList<T>) {
      table.insert(key, key_spec_detail::to_array(value));
    } else if constexpr (std::is_same_v<T, uint64_t>) {
      table.insert(key, static_cast<int64_t>(value));
    } else {
      table.insert(key, value);
    }
  };
}

template <typename Section>
template <typename Member, size_t N>
KeySpec<Section>::KeySpec(std::string name, Member member_of_base,
                          const std::array<const char*, N>& names, std::string doc)
    : KeySpec(std::move(name), std::move(doc)) {
  using Enum = typename key_spec_detail::MemberOf<Member>::type;
  static_assert(std::is_enum_v<Enum>, "names spell the values of an enum member");
  Enum Section::*member = member_of_base;
  type_ = to_string(ParamType::String);
  choices_.assign(names.begin(), names.end());
  read_ = [member, names](const KeySpec& spec, TomlReader& reader, Section& section) {
    Enum& value = section.*member;
    // reader.string() has refused any text outside `choices_`.
    value = *enumerator_named<Enum>(
        names, reader.string(spec.name_, names[static_cast<size_t>(value)], spec.choices_));
  };
  write_ = [member, names, key = name_](const Section& section, toml::table& table) {
    table.insert(key, std::string(names[static_cast<size_t>(section.*member)]));
  };
}

template <typename Section>
KeyReference KeySpec<Section>::reference() const {
  KeyReference row;
  row.key = "`" + name_ + "`";
  row.type = type_;
  row.doc = doc_ + (affects_results_ ? "" : std::string(" ") + kLeavesResultsMark) +
            (trains_guide_ ? std::string(" ") + kTrainsGuideMark : "");
  if (read_by_hand()) {
    row.default_value = default_text_;
    row.allowed = allowed_;
    return row;
  }
  if (required_) {
    row.default_value = "required";
  } else {
    toml::table defaults;
    write(Section{}, defaults);
    row.default_value = "`" + value_text(*defaults.get(name_)) + "`";
  }
  if (!allowed_.empty()) {
    row.allowed = allowed_;
  } else if (!choices_.empty()) {
    for (const auto& choice : choices_) {
      row.allowed += (row.allowed.empty() ? "`\"" : ", `\"") + choice + "\"`";
    }
  } else if (min_ && max_) {
    row.allowed = bound_text(*min_) + "–" + bound_text(*max_);
  } else if (min_ || max_) {
    row.allowed = (min_ ? "≥ " + bound_text(*min_) : "≤ " + bound_text(*max_));
    if (type_ == to_string(ParamType::IntList)) row.allowed = "each " + row.allowed;
  }
  return row;
}

/// Reads every declared key that is not read by hand into `section`.
template <typename Section>
void read_keys(TomlReader& reader, const std::vector<KeySpec<Section>>& keys, Section& section) {
  for (const auto& key : keys) {
    if (!key.read_by_hand()) key.read(reader, section);
  }
}

/// @return a table of every declared key that is not read by hand, with its value in `section`.
template <typename Section>
toml::table write_keys(const std::vector<KeySpec<Section>>& keys, const Section& section) {
  toml::table table;
  for (const auto& key : keys) {
    if (!key.read_by_hand()) key.write(section, table);
  }
  return table;
}

}  // namespace guidance
