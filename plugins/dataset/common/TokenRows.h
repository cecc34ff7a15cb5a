#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "guidance/api/Task.h"

namespace guidance::datasets {

/// The padding token of the token datasets here (the released parity format pads with 2).
inline constexpr int64_t kPadToken = 0;

/// Variable-length rows padded into one tensor.
struct PackedRows {
  torch::Tensor tokens;  ///< int64 [B, length], `pad` after each row's end
  torch::Tensor mask;    ///< bool [B, length], true on each row's own entries
};

/// Pads rows of tokens to a common length.
/// @param length at least the length of the longest row
inline PackedRows pack_rows(const std::vector<std::vector<int64_t>>& rows, int64_t length,
                            int64_t pad) {
  const auto count = static_cast<int64_t>(rows.size());
  PackedRows packed{torch::full({count, length}, pad, torch::kLong),
                    torch::zeros({count, length}, torch::kBool)};
  auto tokens = packed.tokens.accessor<int64_t, 2>();
  auto mask = packed.mask.accessor<bool, 2>();
  for (int64_t b = 0; b < count; ++b) {
    const auto& row = rows[static_cast<size_t>(b)];
    for (size_t t = 0; t < row.size(); ++t) {
      tokens[b][static_cast<int64_t>(t)] = row[t];
      mask[b][static_cast<int64_t>(t)] = true;
    }
  }
  return packed;
}

/// @return the length of the longest row (0 for none): the width of a batch padded to its own
/// longest example.
inline int64_t longest_row(const std::vector<std::vector<int64_t>>& rows) {
  size_t longest = 0;
  for (const auto& row : rows) longest = std::max(longest, row.size());
  return static_cast<int64_t>(longest);
}

/// @return the task of a token dataset whose inputs are at most `length` tokens, padded with
/// `pad`.
inline TaskSpec token_task(std::string name, int64_t length, int64_t vocab_size,
                           TargetKind target_kind, int64_t num_outputs,
                           std::vector<std::string> measures, int64_t pad = kPadToken) {
  TaskSpec task;
  task.name = std::move(name);
  task.input_kind = InputKind::Tokens;
  task.input_shape = {length};
  task.vocab_size = vocab_size;
  task.pad_token = pad;
  task.target_kind = target_kind;
  task.num_outputs = num_outputs;
  task.measures = std::move(measures);
  return task;
}

}  // namespace guidance::datasets
