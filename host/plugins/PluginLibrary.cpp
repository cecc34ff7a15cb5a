#include "host/plugins/PluginLibrary.h"

#include <dlfcn.h>

#include <boost/dll/shared_library.hpp>

#include "host/common/Errors.h"

namespace guidance {

namespace {

std::string torch_version_built() { return TORCH_VERSION; }

}  // namespace

std::shared_ptr<PluginLibrary> PluginLibrary::open(const std::string& path) {
  boost::dll::fs::error_code error;
  auto mode = static_cast<boost::dll::load_mode::type>(RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  auto library = std::make_unique<boost::dll::shared_library>(path, mode, error);
  if (error) {
    const char* reason = dlerror();
    throw PluginLoadError("cannot load plugin library '" + path + "': not a loadable library (" +
                          (reason != nullptr ? std::string(reason) : error.message()) + ")");
  }
  if (!library->has(kEntrySymbol)) {
    throw PluginLoadError("plugin library '" + path + "' lacks the entry symbol '" +
                          std::string(kEntrySymbol) +
                          "': a plugin library must define it with GUIDANCE_PLUGIN_LIBRARY(...)");
  }
  auto entry = library->get<const LibraryDescriptor*()>(kEntrySymbol);
  const LibraryDescriptor* descriptor = entry();
  if (descriptor == nullptr) {
    throw PluginLoadError("plugin library '" + path + "': entry symbol returned no descriptor");
  }
  if (descriptor->abi_version != kAbiVersion) {
    throw PluginLoadError("plugin library '" + path + "' was built for plugin ABI version " +
                          std::to_string(descriptor->abi_version) + ", but this host uses version " +
                          std::to_string(kAbiVersion) +
                          ": rebuild the plugin against this host's plugin-api");
  }
  if (descriptor->descriptor_size != sizeof(LibraryDescriptor)) {
    throw PluginLoadError("plugin library '" + path + "' has a descriptor of " +
                          std::to_string(descriptor->descriptor_size) + " bytes, expected " +
                          std::to_string(sizeof(LibraryDescriptor)) +
                          ": rebuild the plugin against this host's plugin-api");
  }
  if (descriptor->torch_version == nullptr || torch_version_built() != descriptor->torch_version) {
    throw PluginLoadError(
        "plugin library '" + path + "' was built against LibTorch " +
        (descriptor->torch_version ? descriptor->torch_version : "(unknown)") +
        ", but this host uses LibTorch " + torch_version_built() + ": rebuild the plugin");
  }
  if (descriptor->cxx11_abi != GUIDANCE_CXX11_ABI) {
    throw PluginLoadError("plugin library '" + path + "' was built with _GLIBCXX_USE_CXX11_ABI=" +
                          std::to_string(descriptor->cxx11_abi) + ", but this host uses " +
                          std::to_string(GUIDANCE_CXX11_ABI) + ": rebuild the plugin");
  }
  return std::shared_ptr<PluginLibrary>(new PluginLibrary(path, std::move(library), descriptor));
}

PluginLibrary::PluginLibrary(std::string path, std::unique_ptr<boost::dll::shared_library> library,
                             const LibraryDescriptor* descriptor)
    : path_(std::move(path)), library_(std::move(library)), descriptor_(descriptor) {}

PluginLibrary::~PluginLibrary() = default;

}  // namespace guidance
