#pragma once

#include <string>
#include <vector>

namespace guidance {

/// @return the Levenshtein distance between two strings.
size_t edit_distance(const std::string& a, const std::string& b);

/// @return the candidates closest to `word` (at most `limit`, ties kept in candidate order), only
/// those within a distance that plausibly means a typo.
std::vector<std::string> closest_matches(const std::string& word,
                                         const std::vector<std::string>& candidates,
                                         size_t limit = 3);

/// @return " (did you mean 'x'?)" / " (did you mean 'x' or 'y'?)" or "" when nothing is close.
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);

/// @return the items joined as "'a', 'b', 'c'".
std::string quoted_list(const std::vector<std::string>& items);

}  // namespace guidance
