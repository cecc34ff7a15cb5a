#include "analysis/SummaryText.h"

#include <cmath>
#include <ios>
#include <sstream>

namespace guidance::analysis {

bool starts_with(const std::string& text, const std::string& prefix) {
  return text.rfind(prefix, 0) == 0;
}

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string join(const std::vector<std::string>& parts, const std::string& separator) {
  std::string text;
  for (size_t i = 0; i < parts.size(); ++i) text += (i ? separator : "") + parts[i];
  return text;
}

std::string fixed(double value, int digits) {
  if (std::isnan(value)) return "";
  std::ostringstream text;
  text.setf(std::ios::fixed);
  text.precision(digits);
  text << value;
  return text.str();
}

std::string signed_fixed(double value, int digits) {
  if (std::isnan(value)) return "";
  return (value >= 0 ? "+" : "") + fixed(value, digits);
}

std::string mean_pm(const std::vector<double>& values, int digits) {
  if (values.empty()) return "";
  if (values.size() == 1) return fixed(values[0], digits);
  return fixed(mean(values), digits) + " ± " + fixed(sample_std(values), digits);
}

std::string delta_text(const WelchInterval& interval) {
  if (std::isnan(interval.difference)) return "";
  if (std::isnan(interval.low)) return signed_fixed(interval.difference) + " (no CI: n<2)";
  return signed_fixed(interval.difference) + " [" + signed_fixed(interval.low) + ", " +
         signed_fixed(interval.high) + "]";
}

std::string markdown_cell(std::string text) {
  for (size_t at = 0; (at = text.find('|', at)) != std::string::npos; at += 2)
    text.replace(at, 1, "\\|");
  return text;
}

}  // namespace guidance::analysis
