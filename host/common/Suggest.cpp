#include "host/common/Suggest.h"

#include <algorithm>
#include <numeric>

namespace guidance {

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> previous(b.size() + 1);
  std::iota(previous.begin(), previous.end(), 0);
  std::vector<size_t> current(b.size() + 1);
  for (size_t i = 1; i <= a.size(); ++i) {
    current[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      current[j] = std::min({previous[j] + 1, current[j - 1] + 1, substitution});
    }
    std::swap(previous, current);
  }
  return previous[b.size()];
}

std::vector<std::string> closest_matches(const std::string& word,
                                         const std::vector<std::string>& candidates,
                                         size_t limit) {
  // A typo changes at most about a quarter of a word; anything further is not a suggestion.
  const size_t threshold = std::max<size_t>(2, word.size() / 4 + 1);
  std::vector<std::pair<size_t, size_t>> scored;  // (distance, candidate index)
  for (size_t i = 0; i < candidates.size(); ++i) {
    size_t distance = edit_distance(word, candidates[i]);
    bool prefix = !word.empty() && candidates[i].rfind(word, 0) == 0;
    if (distance <= threshold || prefix) scored.emplace_back(prefix ? 0 : distance, i);
  }
  std::stable_sort(scored.begin(), scored.end(),
                   [](const auto& l, const auto& r) { return l.first < r.first; });
  std::vector<std::string> result;
  for (size_t i = 0; i < scored.size() && result.size() < limit; ++i) {
    result.push_back(candidates[scored[i].second]);
  }
  return result;
}

std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates) {
  std::vector<std::string> matches = closest_matches(word, candidates);
  if (matches.empty()) return "";
  std::string text = " (did you mean '" + matches[0] + "'";
  for (size_t i = 1; i < matches.size(); ++i) {
    text += (i + 1 == matches.size() ? " or '" : ", '") + matches[i] + "'";
  }
  return text + "?)";
}

std::string quoted_list(const std::vector<std::string>& items) {
  std::string text;
  for (const auto& item : items) text += (text.empty() ? "'" : ", '") + item + "'";
  return text;
}

}  // namespace guidance
