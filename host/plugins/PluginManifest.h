#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace guidance {

/// The size and FNV-1a 64 checksum of a whole file.
struct FileChecksum {
  uint64_t size = 0;
  uint64_t fnv1a = 0;
};

/// Reads the whole file with read(2), not mmap, so that a file truncated meanwhile cannot raise
/// SIGBUS in the reader. Throws std::runtime_error naming the path when it cannot be read.
FileChecksum checksum_file(const std::string& path);

/// The build's list of its plugin libraries, `plugins.manifest` beside them: one line
/// `SIZE CHECKSUM NAME` per library (checksum as 16 hex digits, NAME a file name in the same
/// folder), lines starting with '#' are comments.
///
/// The build writes it (the tool `guidance-plugin-manifest`, run after each plugin links and
/// again on the installed copies); the catalog loads a listed library only if it still matches, so
/// a damaged or replaced copy is refused before the dynamic loader maps it (docs/plugins.md).
class PluginManifest {
 public:
  static constexpr const char* kFileName = "plugins.manifest";

  /// Reads `path`. A missing or unreadable file is an empty manifest and malformed lines are
  /// skipped: what is not listed is checked another way (PluginProbe.h).
  static PluginManifest read(const std::string& path);

  /// Writes the manifest with write_file_atomically, so readers see the old or the new one whole.
  /// Throws RunError naming the path.
  void write(const std::string& path) const;

  /// @return the entry for a file name, or nullptr when it is not listed.
  const FileChecksum* find(const std::string& name) const;

  /// Lists (or relists) a file name.
  void set(const std::string& name, const FileChecksum& checksum) { entries_[name] = checksum; }

  /// Drops the entries whose file is no longer in `directory`.
  void drop_missing(const std::string& directory);

 private:
  std::map<std::string, FileChecksum> entries_;
};

/// How a library compares with the manifest in its folder.
struct ManifestCheck {
  enum class Status {
    Unlisted,  ///< no manifest there, or it does not list the file
    Matches,   ///< same size and checksum as the build wrote
    Differs,   ///< listed, but the file changed since
  };
  Status status = Status::Unlisted;
  std::string refusal;  ///< for Differs: the problem, naming library, manifest and what changed
};

/// Compares `library_path` with `<its folder>/plugins.manifest`.
ManifestCheck check_against_manifest(const std::string& library_path);

}  // namespace guidance
