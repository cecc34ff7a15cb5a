#include "host/config/KeySpec.h"

#include <cmath>
#include <iomanip>
#include <sstream>

#include "host/common/TextFormat.h"

namespace guidance {

namespace {

/// @return n in superscript digits, e.g. "²⁰".
std::string superscript(int n) {
  static const char* const kDigits[] = {"⁰", "¹", "²", "³", "⁴", "⁵", "⁶", "⁷", "⁸", "⁹"};
  std::string text;
  for (char digit : std::to_string(n)) text += kDigits[digit - '0'];
  return text;
}

/// @return the exponent e with base^e == value, for e >= from; nothing when there is none.
std::optional<int> exponent_of(double value, double base, int from) {
  int exponent = static_cast<int>(std::lround(std::log(value) / std::log(base)));
  if (exponent < from || std::pow(base, exponent) != value) return std::nullopt;
  return exponent;
}

}  // namespace

std::string bound_text(double value) {
  if (std::nearbyint(value) != value || std::fabs(value) >= 1e15) {
    std::ostringstream text;
    text << std::setprecision(10) << value;
    return text.str();
  }
  // Large bounds are limits of size, read more easily as powers than as ten digits.
  if (value > 0) {
    if (auto exponent = exponent_of(value, 10, 6)) return "10" + superscript(*exponent);
    if (auto exponent = exponent_of(value, 2, 20)) return "2" + superscript(*exponent);
  }
  return std::to_string(static_cast<long long>(value));
}

std::string value_text(const toml::node& value) {
  if (const auto* text = value.as_string()) return "\"" + text->get() + "\"";
  if (const auto* array = value.as_array()) {
    std::string list;
    for (const auto& element : *array) list += (list.empty() ? "" : ", ") + value_text(element);
    return "[" + list + "]";
  }
  if (const auto* number = value.as_floating_point()) return shortest_float_text(number->get());
  std::ostringstream text;
  value.visit([&](const auto& scalar) { text << scalar; });
  return text.str();
}

}  // namespace guidance
