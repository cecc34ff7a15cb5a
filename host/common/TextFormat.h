#pragma once

#include <string>

namespace guidance {

/// @return a duration as a progress line shows it: "7s", "2m05s", "1h02m05s" (rounded to the
/// second; negative durations show as "0s").
std::string duration_text(double seconds);

/// @return the current time in UTC as ISO 8601 to the second, e.g. "2026-12-05T19:02:40Z".
std::string now_iso8601();

/// @return the fewest significant digits that read back as `value`, as a TOML float: with a "."
/// or an exponent ("0.003", "1.0", "1e-08"), "nan", "inf" or "-inf".
std::string shortest_float_text(double value);

/// @return `text` quoted for a POSIX shell: in single quotes, each ' written as '\''.
std::string shell_quote(const std::string& text);

}  // namespace guidance
