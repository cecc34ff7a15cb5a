#pragma once

#include <string>

#include <toml++/toml.h>

namespace guidance {

/// @return `node` as one line of TOML (strings quoted, tables inline with sorted keys).
std::string inline_toml(const toml::node& node);

/// @return `key` as a TOML key: bare when it may be (letters, digits, `_`, `-`), else quoted.
std::string toml_key(const std::string& key);

}  // namespace guidance
