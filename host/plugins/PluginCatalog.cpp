#include "host/plugins/PluginCatalog.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include <boost/dll/runtime_symbol_info.hpp>

#include "host/common/Errors.h"
#include "host/common/Suggest.h"
#include "host/plugins/ElfCheck.h"
#include "host/plugins/PluginManifest.h"
#include "host/plugins/PluginProbe.h"

namespace guidance {

namespace fs = std::filesystem;

namespace {

/// Collects what one library registers, so the catalog can check it before accepting any.
class CollectingRegistry : public Registry {
 public:
  void add(std::shared_ptr<Plugin> plugin) override { plugins.push_back(std::move(plugin)); }
  std::vector<std::shared_ptr<Plugin>> plugins;
};

}  // namespace

void PluginCatalog::load_directory(const std::string& directory) {
  std::error_code error;
  if (!fs::is_directory(directory, error)) {
    throw PluginLoadError("plugin directory '" + directory + "' does not exist" +
                          (fs::exists(directory, error) ? " (it is a file, expected a directory)"
                                                        : ""));
  }
  std::vector<fs::path> libraries;
  for (fs::directory_iterator it(directory, error), end; !error && it != end; it.increment(error)) {
    if (it->path().extension() == ".so") libraries.push_back(it->path());
  }
  if (error) {
    throw PluginLoadError("cannot read plugin directory '" + directory + "': " + error.message());
  }
  std::sort(libraries.begin(), libraries.end());
  directories_.push_back(directory);
  for (const auto& path : libraries) load_library(path.string());
}

std::vector<PluginCatalog::DeclaredPlugin> PluginCatalog::declared_plugins(
    const std::string& directory) {
  std::vector<DeclaredPlugin> declared;
  std::ifstream available(fs::path(directory) / kAvailableFile);
  for (std::string line; std::getline(available, line);) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    DeclaredPlugin plugin;
    fields >> plugin.name >> plugin.library >> std::ws;
    std::getline(fields, plugin.build_command);
    if (!plugin.build_command.empty()) declared.push_back(std::move(plugin));
  }
  return declared;
}

std::optional<std::string> PluginCatalog::unbuilt_plugin_command(const std::string& name) const {
  for (const std::string& directory : directories_) {
    for (const DeclaredPlugin& plugin : declared_plugins(directory)) {
      std::error_code error;
      if (plugin.name == name && !fs::exists(fs::path(directory) / plugin.library, error)) {
        return plugin.build_command;
      }
    }
  }
  return std::nullopt;
}

void PluginCatalog::load_library(const std::string& path) {
  // A damaged file can crash the dynamic loader itself (SIGBUS on a truncated copy), beyond any
  // catch: the build's own libraries are checked against its manifest, others are loaded in a
  // child process first. Only then may the library enter this process. A crash can depend on the
  // address layout, so a probe may pass where the host then crashes: the ELF structure is checked
  // first (a load segment grown over the next one, found by the damage drill).
  ManifestCheck listed = check_against_manifest(path);
  if (listed.status == ManifestCheck::Status::Differs) {
    problems_.push_back(listed.refusal);
    return;
  }
  if (listed.status == ManifestCheck::Status::Unlisted) {
    if (std::optional<std::string> problem = elf_structure_problem(path)) {
      problems_.push_back("plugin library '" + path + "' was not loaded: " + *problem +
                          "; rebuild it, or remove it");
      return;
    }
    if (std::optional<std::string> problem = probe_plugin_library(path)) {
      problems_.push_back(*problem);
      return;
    }
  }
  std::shared_ptr<PluginLibrary> library;
  CollectingRegistry registry;
  try {
    library = PluginLibrary::open(path);
    library->descriptor().register_plugins(registry);
  } catch (const PluginLoadError& error) {
    problems_.push_back(error.what());
    return;
  } catch (const std::exception& error) {
    // Rethrown as a host-owned message while the library is still loaded.
    problems_.push_back("plugin library '" + path + "' failed while registering its plugins: " +
                        error.what());
    return;
  }
  for (auto& plugin : registry.plugins) {
    if (!plugin) {
      problems_.push_back("plugin library '" + path + "' registered a null plugin");
      continue;
    }
    PluginInfo info = plugin->info();
    if (info.name.empty()) {
      problems_.push_back("plugin library '" + path + "' registered a " +
                          to_string(plugin->kind()) + " plugin without a name");
      continue;
    }
    auto same = std::find_if(entries_.begin(), entries_.end(), [&](const CatalogEntry& entry) {
      return entry.plugin->kind() == plugin->kind() && entry.info.name == info.name;
    });
    if (same != entries_.end()) {
      problems_.push_back(std::string("two ") + to_string(plugin->kind()) + " plugins are named '" +
                          info.name + "': one in '" + same->library_path + "', one in '" + path +
                          "' (remove one, or rename it)");
      continue;
    }
    entries_.push_back(CatalogEntry{keep_library_alive(std::move(plugin), library), std::move(info),
                                    path});
  }
  libraries_.push_back(std::move(library));
}

std::string PluginCatalog::default_directory() {
  fs::path bin = boost::dll::program_location().parent_path().string();
  fs::path build_tree = bin / ".." / "lib" / "guidance" / "plugins";
  std::error_code error;
  if (fs::is_directory(build_tree, error)) return fs::weakly_canonical(build_tree).string();
  return fs::weakly_canonical(bin / ".." / GUIDANCE_INSTALL_PLUGIN_DIR).string();
}

void PluginCatalog::require_no_problems() const {
  if (problems_.empty()) return;
  std::string message = problems_.front();
  for (size_t i = 1; i < problems_.size(); ++i) message += "\n" + problems_[i];
  throw PluginLoadError(message);
}

const CatalogEntry& PluginCatalog::find(PluginKind kind, const std::string& name) const {
  for (const auto& entry : entries_) {
    if (entry.plugin->kind() == kind && entry.info.name == name) return entry;
  }
  if (const std::optional<std::string> command = unbuilt_plugin_command(name)) {
    // Not a typo: the quick start builds only the plugins its config names.
    throw UnknownPluginError(std::string("no ") + to_string(kind) + " plugin named '" + name +
                             "' is built: this build declares it but has not built its library; "
                             "build it with `" + *command + "` (every plugin: target "
                             "guidance-plugins)");
  }
  std::vector<std::string> candidates = names(kind);
  const std::string suggestion = did_you_mean(name, candidates);
  std::string message =
      std::string("no ") + to_string(kind) + " plugin named '" + name + "'" + suggestion;
  const std::vector<const CatalogEntry*> other_kinds = find_any(name);
  for (const CatalogEntry* other : other_kinds) {
    message += "; '" + name + "' is a " + to_string(other->plugin->kind()) + " plugin";
  }
  if (suggestion.empty() && other_kinds.empty()) {
    // Not a typo: perhaps a plugin built outside this tree, which is loaded from its folder.
    message += "; a plugin built elsewhere is loaded from its folder with --plugin-dir DIR, "
               "$GUIDANCE_PLUGIN_PATH or run.plugin_dirs";
  }
  message += candidates.empty() ? std::string("; no ") + to_string(kind) + " plugins are loaded"
                                : std::string("; loaded ") + to_string(kind) +
                                      " plugins: " + quoted_list(candidates);
  throw UnknownPluginError(message);
}

std::vector<const CatalogEntry*> PluginCatalog::find_any(const std::string& name) const {
  std::vector<const CatalogEntry*> found;
  for (const auto& entry : entries_) {
    if (entry.info.name == name) found.push_back(&entry);
  }
  return found;
}

std::vector<std::string> PluginCatalog::names(PluginKind kind) const {
  std::vector<std::string> result;
  for (const auto& entry : entries_) {
    if (entry.plugin->kind() == kind) result.push_back(entry.info.name);
  }
  return result;
}

template <typename T>
std::shared_ptr<T> PluginCatalog::typed(PluginKind kind, const std::string& name) const {
  const CatalogEntry& entry = find(kind, name);
  // The kind was checked, so the cast cannot fail; static_pointer_cast avoids RTTI across
  // library boundaries.
  return std::static_pointer_cast<T>(entry.plugin);
}

std::shared_ptr<ArchitecturePlugin> PluginCatalog::architecture(const std::string& name) const {
  return typed<ArchitecturePlugin>(PluginKind::Architecture, name);
}
std::shared_ptr<DatasetPlugin> PluginCatalog::dataset(const std::string& name) const {
  return typed<DatasetPlugin>(PluginKind::Dataset, name);
}
std::shared_ptr<MetricPlugin> PluginCatalog::metric(const std::string& name) const {
  return typed<MetricPlugin>(PluginKind::Metric, name);
}
std::shared_ptr<GuideInitPlugin> PluginCatalog::guide_init(const std::string& name) const {
  return typed<GuideInitPlugin>(PluginKind::GuideInit, name);
}

std::shared_ptr<PluginLibrary> PluginCatalog::library_of(const CatalogEntry& entry) const {
  for (const auto& library : libraries_) {
    if (library->path() == entry.library_path) return library;
  }
  return nullptr;
}

}  // namespace guidance
