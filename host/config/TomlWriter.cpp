#include "host/config/TomlWriter.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <sstream>

#include "host/common/TextFormat.h"

namespace guidance {

std::string inline_toml(const toml::node& node) {
  std::ostringstream out;
  if (const auto* table = node.as_table()) {
    out << "{";
    bool first = true;
    for (const auto& [key, value] : *table) {
      out << (first ? " " : ", ") << toml_key(std::string(key.str())) << " = "
          << inline_toml(value);
      first = false;
    }
    out << (first ? "}" : " }");
  } else if (const auto* array = node.as_array()) {
    out << "[";
    for (size_t i = 0; i < array->size(); ++i) out << (i ? ", " : "") << inline_toml(*array->get(i));
    out << "]";
  } else if (const auto* text = node.as_string()) {
    out << '"';
    for (unsigned char c : text->get()) {
      if (c == '"' || c == '\\') {
        out << '\\' << c;
      } else if (c == '\n') {
        out << "\\n";
      } else if (c == '\t') {
        out << "\\t";
      } else if (c < 0x20 || c == 0x7f) {
        char escaped[8];
        std::snprintf(escaped, sizeof(escaped), "\\u%04x", c);
        out << escaped;
      } else {
        out << c;
      }
    }
    out << '"';
  } else if (const auto* real = node.as_floating_point()) {
    out << shortest_float_text(real->get());
  } else {
    node.visit([&](const auto& value) { out << value; });
  }
  return out.str();
}

std::string toml_key(const std::string& key) {
  bool bare = !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
  if (bare) return key;
  return inline_toml(toml::value<std::string>(key));
}

}  // namespace guidance
