#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace guidance {

/// The FNV-1a 64 offset basis: the hash of no bytes, where a running hash starts.
inline constexpr uint64_t kFnv1aOffsetBasis = 0xcbf29ce484222325ULL;

/// FNV-1a 64 over `bytes` bytes at `data`, continuing the running hash `hash`: cheap (about a
/// byte a cycle), and any changed byte changes it. A checksum against accidental damage, not
/// against tampering.
inline uint64_t fnv1a(uint64_t hash, const void* data, size_t bytes) {
  const auto* byte = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < bytes; ++i) hash = (hash ^ byte[i]) * 0x100000001b3ULL;
  return hash;
}

/// FNV-1a 32 over `text`: the short hash that keeps long run names unique (Sweep); its value is
/// part of existing run folders' names, so it must not change.
inline uint32_t fnv1a_32(const std::string& text) {
  uint32_t hash = 2166136261u;
  for (unsigned char c : text) hash = (hash ^ c) * 16777619u;
  return hash;
}

}  // namespace guidance
