// guidance-plugin-manifest MANIFEST LIBRARY...
//
// Build step (cmake/GuidancePlugin.cmake): lists each LIBRARY with its size and checksum in
// MANIFEST, a plugins.manifest in the libraries' folder, and drops entries whose file is gone.
// Plugins link in parallel, each running this after its link, so the update holds an exclusive
// lock on the folder while it reads, changes and renames the manifest.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "host/plugins/PluginManifest.h"

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  if (argc < 3) {
    std::cerr << "usage: guidance-plugin-manifest MANIFEST LIBRARY...\n";
    return 2;
  }
  const std::string manifest_path = argv[1];
  std::string directory = fs::path(manifest_path).parent_path().string();
  if (directory.empty()) directory = ".";
  int lock = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (lock < 0 || ::flock(lock, LOCK_EX) != 0) {
    std::cerr << "guidance-plugin-manifest: cannot lock '" << directory << "': "
              << std::strerror(errno) << "\n";
    return 1;
  }
  try {
    guidance::PluginManifest manifest = guidance::PluginManifest::read(manifest_path);
    for (int i = 2; i < argc; ++i) {
      manifest.set(fs::path(argv[i]).filename().string(), guidance::checksum_file(argv[i]));
    }
    manifest.drop_missing(directory);
    manifest.write(manifest_path);
  } catch (const std::exception& error) {
    std::cerr << "guidance-plugin-manifest: " << error.what() << "\n";
    return 1;
  }
  return 0;  // the lock goes with the process
}
