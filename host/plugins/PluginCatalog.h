#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "guidance/api/Plugin.h"
#include "host/plugins/PluginLibrary.h"

namespace guidance {

/// A plugin found in a library, with where it came from.
struct CatalogEntry {
  std::shared_ptr<Plugin> plugin;  ///< keeps its library loaded
  PluginInfo info;
  std::string library_path;
};

/// All plugins the host can use, loaded from plugin directories in order.
///
/// Hard errors (a directory that does not exist) throw at once. Problems with single files (not a
/// loadable library, no entry symbol, wrong ABI, a duplicate name) are collected, so `guidance
/// plugins` can list what works and report the rest; commands that run something call
/// require_no_problems() first.
class PluginCatalog {
 public:
  /// The build tree's list of the plugins it declares, one line `NAME LIBRARY COMMAND` each
  /// (LIBRARY: the file name of NAME's library; COMMAND builds it), written by CMake beside the
  /// built libraries: a plugin listed there whose library is absent is one not built yet, not a
  /// misspelt one.
  static constexpr const char* kAvailableFile = "plugins.available";

  /// One line of a kAvailableFile.
  struct DeclaredPlugin {
    std::string name;
    std::string library;  ///< file name, in the folder of the kAvailableFile
    std::string build_command;
  };

  /// @return the plugins `directory`'s kAvailableFile declares, in its order; none without one.
  static std::vector<DeclaredPlugin> declared_plugins(const std::string& directory);

  /// Loads every `*.so` file in `directory` (sorted by name; other files are ignored).
  /// Throws PluginLoadError if the directory does not exist.
  void load_directory(const std::string& directory);

  /// Loads one library file; a failure is recorded as a problem naming the file.
  void load_library(const std::string& path);

  /// @return the directory the build or install put the plugins shipped with the workbench in.
  static std::string default_directory();

  const std::vector<CatalogEntry>& entries() const { return entries_; }
  const std::vector<std::string>& problems() const { return problems_; }

  /// Throws PluginLoadError listing every problem, if there were any.
  void require_no_problems() const;

  /// @return the entry of that kind and name; throws UnknownPluginError naming the kind, the
  /// closest names and, if the name exists under another kind, that kind, or, for a plugin a
  /// loaded directory's kAvailableFile lists without its library, the command that builds it.
  const CatalogEntry& find(PluginKind kind, const std::string& name) const;

  /// @return the entries with that name, of any kind.
  std::vector<const CatalogEntry*> find_any(const std::string& name) const;

  /// @return the names of every plugin of a kind, in load order.
  std::vector<std::string> names(PluginKind kind) const;

  /// Typed lookups: the returned pointer keeps the library loaded.
  std::shared_ptr<ArchitecturePlugin> architecture(const std::string& name) const;
  std::shared_ptr<DatasetPlugin> dataset(const std::string& name) const;
  std::shared_ptr<MetricPlugin> metric(const std::string& name) const;
  std::shared_ptr<GuideInitPlugin> guide_init(const std::string& name) const;

  /// @return the library an entry came from, for tying created objects to it.
  std::shared_ptr<PluginLibrary> library_of(const CatalogEntry& entry) const;

 private:
  template <typename T>
  std::shared_ptr<T> typed(PluginKind kind, const std::string& name) const;

  /// @return the command that builds `name` when a loaded directory declares it in
  /// kAvailableFile and holds no library of it, else nullopt.
  std::optional<std::string> unbuilt_plugin_command(const std::string& name) const;

  std::vector<std::string> directories_;  ///< loaded by load_directory, in order
  std::vector<std::shared_ptr<PluginLibrary>> libraries_;
  std::vector<CatalogEntry> entries_;
  std::vector<std::string> problems_;
};

}  // namespace guidance
