#pragma once

#include <cstdint>

#include <torch/version.h>

#include "guidance/api/Plugin.h"

namespace guidance {

/// The version of the host–plugin contract. Bump it whenever a header in guidance/api changes in
/// a way that breaks binary compatibility; the host refuses libraries built for another version.
inline constexpr uint32_t kAbiVersion = 6;

/// The name of the single symbol every plugin library exports.
inline constexpr const char* kEntrySymbol = "guidance_plugin_library";

/// What a library's entry symbol returns. The layout of the first two fields never changes, so a
/// host can read them from any library and refuse a mismatch before touching anything else.
struct LibraryDescriptor {
  uint32_t abi_version;            ///< kAbiVersion the library was built with
  uint32_t descriptor_size;        ///< sizeof(LibraryDescriptor) in the library
  const char* torch_version;       ///< TORCH_VERSION the library was built against
  int32_t cxx11_abi;               ///< _GLIBCXX_USE_CXX11_ABI the library was built with
  void (*register_plugins)(Registry& registry);
};

}  // namespace guidance

#if defined(_GLIBCXX_USE_CXX11_ABI)
#define GUIDANCE_CXX11_ABI _GLIBCXX_USE_CXX11_ABI
#else
#define GUIDANCE_CXX11_ABI 0
#endif

/// Defines the library's entry point. Use once per library, followed by the body of the
/// registration function:
///
///     GUIDANCE_PLUGIN_LIBRARY(registry) {
///       registry.add(std::make_shared<MyArchitecture>());
///     }
#define GUIDANCE_PLUGIN_LIBRARY(registry)                                                      \
  static void guidance_register_plugins(::guidance::Registry& registry);                       \
  extern "C" __attribute__((visibility("default"))) const ::guidance::LibraryDescriptor*      \
  guidance_plugin_library() {                                                                  \
    static const ::guidance::LibraryDescriptor descriptor{                                     \
        ::guidance::kAbiVersion, sizeof(::guidance::LibraryDescriptor), TORCH_VERSION,          \
        GUIDANCE_CXX11_ABI, &guidance_register_plugins};                                       \
    return &descriptor;                                                                        \
  }                                                                                            \
  static void guidance_register_plugins(::guidance::Registry& registry)
