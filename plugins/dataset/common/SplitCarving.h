#pragma once

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <vector>

#include "plugins/dataset/common/ExampleRng.h"

namespace guidance::datasets {

/// @return 0, ..., n-1 in an order fixed by (seed, stream): a Fisher–Yates shuffle driven by
/// ExampleRng, so the order is the same on every platform and standard library.
inline std::vector<int64_t> seeded_permutation(int64_t n, uint64_t seed, uint64_t stream) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  ExampleRng rng(seed, stream, 0);
  for (int64_t i = n - 1; i > 0; --i) {
    std::swap(order[static_cast<size_t>(i)], order[rng.below(static_cast<uint64_t>(i) + 1)]);
  }
  return order;
}

/// The two parts of a carved list.
struct Carved {
  std::vector<int64_t> kept;   ///< the rest, in their original order
  std::vector<int64_t> taken;  ///< the carved entries, in their original order
};

/// Takes `count` entries of `rows` chosen by a seeded permutation.
/// @param count at most rows.size() (callers check, to name the parameter in their error)
/// @return the taken and the kept entries, each in the order they had in `rows`.
inline Carved carve(const std::vector<int64_t>& rows, int64_t count, uint64_t seed,
                    uint64_t stream) {
  const auto n = static_cast<int64_t>(rows.size());
  std::vector<int64_t> order = seeded_permutation(n, seed, stream);
  std::vector<bool> is_taken(rows.size(), false);
  for (int64_t i = 0; i < count; ++i)
    is_taken[static_cast<size_t>(order[static_cast<size_t>(i)])] = true;
  Carved carved;
  for (size_t i = 0; i < rows.size(); ++i)
    (is_taken[i] ? carved.taken : carved.kept).push_back(rows[i]);
  return carved;
}

/// @return 0, ..., n-1.
inline std::vector<int64_t> all_rows(int64_t n) {
  std::vector<int64_t> rows(static_cast<size_t>(n));
  std::iota(rows.begin(), rows.end(), 0);
  return rows;
}

}  // namespace guidance::datasets
