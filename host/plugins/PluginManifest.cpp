#include "host/plugins/PluginManifest.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "host/common/AtomicFile.h"
#include "host/common/Fnv1a.h"

namespace guidance {

namespace fs = std::filesystem;

FileChecksum checksum_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("cannot read '" + path + "': " + std::strerror(errno));
  FileChecksum result{0, kFnv1aOffsetBasis};
  std::vector<unsigned char> buffer(1 << 18);
  for (;;) {
    ssize_t got = ::read(fd, buffer.data(), buffer.size());
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      int error = errno;
      ::close(fd);
      throw std::runtime_error("cannot read '" + path + "': " + std::strerror(error));
    }
    if (got == 0) break;
    result.size += static_cast<uint64_t>(got);
    result.fnv1a = fnv1a(result.fnv1a, buffer.data(), static_cast<size_t>(got));
  }
  ::close(fd);
  return result;
}

PluginManifest PluginManifest::read(const std::string& path) {
  PluginManifest manifest;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line.front() == '#') continue;
    std::istringstream fields(line);
    FileChecksum checksum;
    std::string hex;
    if (!(fields >> checksum.size >> hex) || hex.size() != 16 || fields.get() != ' ') continue;
    std::string name;
    std::getline(fields, name);
    char* end = nullptr;
    checksum.fnv1a = std::strtoull(hex.c_str(), &end, 16);
    if (name.empty() || end != hex.c_str() + hex.size()) continue;
    manifest.entries_[name] = checksum;
  }
  return manifest;
}

void PluginManifest::write(const std::string& path) const {
  std::ostringstream out;
  out << "# guidance plugin manifest, written by the build: SIZE FNV-1A-64 NAME of each plugin\n"
         "# library in this folder. A listed library that no longer matches is not loaded.\n";
  char hex[17];
  for (const auto& [name, checksum] : entries_) {
    std::snprintf(hex, sizeof(hex), "%016" PRIx64, checksum.fnv1a);
    out << checksum.size << ' ' << hex << ' ' << name << '\n';
  }
  write_file_atomically(path, out.str());
}

const FileChecksum* PluginManifest::find(const std::string& name) const {
  auto found = entries_.find(name);
  return found == entries_.end() ? nullptr : &found->second;
}

void PluginManifest::drop_missing(const std::string& directory) {
  std::error_code error;
  for (auto it = entries_.begin(); it != entries_.end();) {
    it = fs::exists(fs::path(directory) / it->first, error) ? std::next(it) : entries_.erase(it);
  }
}

ManifestCheck check_against_manifest(const std::string& library_path) {
  fs::path library(library_path);
  fs::path manifest_path = library.parent_path() / PluginManifest::kFileName;
  PluginManifest manifest = PluginManifest::read(manifest_path.string());
  const FileChecksum* expected = manifest.find(library.filename().string());
  if (expected == nullptr) return {};

  const std::string prefix = "plugin library '" + library_path +
                             "' does not match the build's manifest '" + manifest_path.string() +
                             "' (";
  const std::string suffix = "): damaged or replaced since it was built; rebuild it, or remove it";
  std::error_code error;
  uint64_t size = fs::file_size(library, error);
  if (error) return {ManifestCheck::Status::Differs, prefix + error.message() + suffix};
  if (size != expected->size) {
    return {ManifestCheck::Status::Differs, prefix + "size " + std::to_string(size) +
                                                " bytes, expected " +
                                                std::to_string(expected->size) + suffix};
  }
  FileChecksum actual;
  try {
    actual = checksum_file(library_path);
  } catch (const std::runtime_error& unreadable) {
    return {ManifestCheck::Status::Differs, prefix + unreadable.what() + suffix};
  }
  if (actual.size != expected->size || actual.fnv1a != expected->fnv1a) {
    return {ManifestCheck::Status::Differs, prefix + "checksum differs" + suffix};
  }
  return {ManifestCheck::Status::Matches, {}};
}

}  // namespace guidance
