#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "host/common/EnumNames.h"

namespace guidance {

/// The element type of the stored activations (`snapshots` attribute `activation_dtype`, and the
/// config key `record.activation_dtype`).
enum class ActivationDtype { Float32, Float16 };
/// The spelling of each ActivationDtype in the file (and in configs), in enum order.
inline constexpr std::array<const char*, 2> kActivationDtypeNames = {"float32", "float16"};
inline const char* to_string(ActivationDtype dtype) {
  return kActivationDtypeNames[static_cast<size_t>(dtype)];
}
/// @return the dtype spelled `name`, or nothing when no dtype is.
inline std::optional<ActivationDtype> activation_dtype_named(const std::string& name) {
  return enumerator_named<ActivationDtype>(kActivationDtypeNames, name);
}
/// @return bytes per stored value: 4 or 2.
inline uint64_t bytes_per_value(ActivationDtype dtype) {
  return dtype == ActivationDtype::Float16 ? 2 : 4;
}

}  // namespace guidance
