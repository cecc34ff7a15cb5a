#pragma once

// How a study's summaries write text: numbers to fixed decimals, mean ± std, a difference with its
// confidence interval, Markdown cells. Shared by the summary tables, the pivot and cell labels.

#include <string>
#include <vector>

#include "analysis/Statistics.h"

namespace guidance::analysis {

/// @return whether `text` begins with `prefix`.
bool starts_with(const std::string& text, const std::string& prefix);

/// @return whether `text` ends with `suffix`.
bool ends_with(const std::string& text, const std::string& suffix);

/// @return the parts with `separator` between them.
std::string join(const std::vector<std::string>& parts, const std::string& separator);

/// @return `value` with `digits` decimals; "" for NaN.
std::string fixed(double value, int digits = 4);

/// @return fixed() with a "+" before values ≥ 0; "" for NaN.
std::string signed_fixed(double value, int digits = 4);

/// @return "mean ± std" (sample std) with `digits` decimals; one value alone as it is; none "".
std::string mean_pm(const std::vector<double>& values, int digits = 4);

/// @return "Δ [low, high]" with signs, "Δ (no CI: n<2)" without an interval; "" without a Δ.
std::string delta_text(const WelchInterval& interval);

/// @return `text` with each "|" escaped, to stand in a Markdown table cell.
std::string markdown_cell(std::string text);

}  // namespace guidance::analysis
