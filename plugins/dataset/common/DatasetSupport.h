#pragma once

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "guidance/api/Dataset.h"
#include "guidance/api/InputFile.h"

namespace guidance::datasets {

/// The `format` values of the datasets that reproduce a task of the authors' released code: that
/// code's layout, or the workbench's earlier one.
inline constexpr const char* kReleasedFormat = "released";
inline constexpr const char* kWorkbenchFormat = "workbench";

/// @return the `format` parameter's choices (ParamTable::add_choice), read as whether the
/// released format is asked for; a dataset's options default it to true ("released").
inline std::vector<std::pair<std::string, bool>> format_choices() {
  return {{kReleasedFormat, true}, {kWorkbenchFormat, false}};
}

/// @return `path` as given if absolute or if there is no base directory, else base/path.
inline std::string resolve_path(const DatasetContext& context, const std::string& path) {
  std::filesystem::path given(path);
  if (given.is_absolute() || context.base_directory.empty()) return given.string();
  return (std::filesystem::path(context.base_directory) / given).string();
}

/// @return the values as an int64 tensor [n].
inline torch::Tensor index_tensor(const std::vector<int64_t>& values) {
  return torch::from_blob(const_cast<int64_t*>(values.data()),
                          {static_cast<int64_t>(values.size())}, torch::kLong)
      .clone();
}

/// Checks the indices a host asks a batch for.
/// @param indices int64 [B], each in [0, size)
/// @param dataset the dataset's name, for the message
/// @return the indices as a vector. Throws std::out_of_range naming the split, the index and the
/// split's size; std::invalid_argument if `indices` is not a 1-D integer tensor.
inline std::vector<int64_t> checked_indices(const torch::Tensor& indices, int64_t size, Split split,
                                            const std::string& dataset) {
  if (!indices.defined() || indices.dim() != 1 ||
      !c10::isIntegralType(indices.scalar_type(), /*includeBool=*/false)) {
    throw std::invalid_argument("dataset '" + dataset +
                                "': batch indices must be a 1-D integer tensor");
  }
  torch::Tensor flat = indices.to(torch::kCPU, torch::kLong).contiguous();
  std::vector<int64_t> values(flat.data_ptr<int64_t>(), flat.data_ptr<int64_t>() + flat.numel());
  for (int64_t index : values) {
    if (index < 0 || index >= size) {
      throw std::out_of_range("dataset '" + dataset + "': index " + std::to_string(index) +
                              " is outside the " + to_string(split) + " split (size " +
                              std::to_string(size) + ")");
    }
  }
  return values;
}

}  // namespace guidance::datasets
