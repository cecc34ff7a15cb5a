#pragma once

#include <initializer_list>
#include <map>
#include <memory>
#include <string>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "guidance/api/Dataset.h"
#include "guidance/api/InputFile.h"
#include "guidance/api/Params.h"
#include "tests/support/TestSupport.h"

namespace guidance::testing {

/// Opens the built dataset plugin `name` with its defaults, overridden by `overrides`.
inline std::shared_ptr<Dataset> open_dataset(const std::string& name,
                                             const std::map<std::string, ParamValue>& overrides,
                                             uint64_t seed = 7,
                                             const std::string& base_directory = "") {
  auto plugin = built_plugins().dataset(name);
  Params params = defaults_of(plugin->info().params);
  for (const auto& [key, value] : overrides) params.set(key, value);
  return plugin->open(params, DatasetContext{seed, base_directory});
}

/// @return the examples [first, first + count) of a split.
inline Batch batch_range(const Dataset& data, Split split, int64_t first, int64_t count) {
  return data.batch(split, torch::arange(first, first + count, torch::kLong));
}

/// @return the whole split as one batch.
inline Batch whole_split(const Dataset& data, Split split) {
  return batch_range(data, split, 0, data.size(split));
}

/// Succeeds if `action` throws an exception of type E whose message contains every fragment.
template <typename E = std::runtime_error, typename F>
::testing::AssertionResult throws_mentioning(F&& action,
                                             std::initializer_list<std::string> fragments) {
  try {
    action();
  } catch (const E& error) {
    const std::string message = error.what();
    for (const auto& fragment : fragments) {
      if (message.find(fragment) == std::string::npos) {
        return ::testing::AssertionFailure()
               << "message \"" << message << "\" does not mention \"" << fragment << "\"";
      }
    }
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "nothing was thrown";
}

}  // namespace guidance::testing
