#pragma once

#include <array>
#include <optional>
#include <string>
#include <vector>

/// Enums spelled in configs, records and on the command line by a names array in enum order
/// (`names[i]` spells enumerator i): one lookup for every reader of such a spelling.

namespace guidance {

/// @return the enumerator of `Enum` spelled `name`, or nothing when none is.
template <typename Enum, size_t N>
std::optional<Enum> enumerator_named(const std::array<const char*, N>& names,
                                     const std::string& name) {
  for (size_t i = 0; i < N; ++i) {
    if (name == names[i]) return static_cast<Enum>(i);
  }
  return std::nullopt;
}

/// @return the names as strings, e.g. for a command-line option's allowed values.
template <size_t N>
std::vector<std::string> names_of(const std::array<const char*, N>& names) {
  return {names.begin(), names.end()};
}

/// @return the names quoted, as a message lists them: "a", "b" or "c".
template <size_t N>
std::string quoted_names(const std::array<const char*, N>& names) {
  std::string list;
  for (size_t i = 0; i < N; ++i) {
    list += std::string(i == 0 ? "" : i + 1 == N ? " or " : ", ") + "\"" + names[i] + "\"";
  }
  return list;
}

}  // namespace guidance
