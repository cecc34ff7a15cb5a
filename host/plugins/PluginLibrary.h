#pragma once

#include <memory>
#include <string>

#include "guidance/api/Export.h"

namespace boost::dll {
class shared_library;
}

namespace guidance {

/// One loaded plugin library. Loading checks the entry symbol and the descriptor (ABI version,
/// descriptor size, LibTorch version, C++11 string ABI) before anything in the library runs.
///
/// Libraries are opened with RTLD_NODELETE: LibTorch plugins register global state, so the code
/// stays mapped even after the last handle goes (pytorch#46171); objects made by a plugin hold a
/// handle anyway, so the library is never released while they live.
class PluginLibrary {
 public:
  /// Opens `path` and validates its descriptor. Throws PluginLoadError naming the path and why.
  static std::shared_ptr<PluginLibrary> open(const std::string& path);

  ~PluginLibrary();
  PluginLibrary(const PluginLibrary&) = delete;
  PluginLibrary& operator=(const PluginLibrary&) = delete;

  const std::string& path() const { return path_; }
  const LibraryDescriptor& descriptor() const { return *descriptor_; }

 private:
  PluginLibrary(std::string path, std::unique_ptr<boost::dll::shared_library> library,
                const LibraryDescriptor* descriptor);

  std::string path_;
  std::unique_ptr<boost::dll::shared_library> library_;
  const LibraryDescriptor* descriptor_;
};

/// Ties an object made by a plugin to its library: the returned pointer keeps the library loaded
/// and destroys the object before releasing the library.
template <typename T>
std::shared_ptr<T> keep_library_alive(std::shared_ptr<T> object,
                                      std::shared_ptr<PluginLibrary> library) {
  struct Holder {
    std::shared_ptr<PluginLibrary> library;  // declared first: destroyed last
    std::shared_ptr<T> object;
  };
  T* raw = object.get();
  auto holder = std::make_shared<Holder>(Holder{std::move(library), std::move(object)});
  return std::shared_ptr<T>(holder, raw);
}

}  // namespace guidance
