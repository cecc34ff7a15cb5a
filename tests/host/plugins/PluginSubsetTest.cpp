// The quick start builds the program and only the plugins `guidance plugins needed` lists for its
// config (scripts/quickstart.sh). These tests run a copy of the program beside a copy of exactly
// those libraries, so a plugin the list misses fails the check the way a fresh machine would.
#include <algorithm>
#include <filesystem>
#include <sstream>

#include "host/plugins/PluginCatalog.h"
#include "host/plugins/PluginManifest.h"
#include "tests/support/TestSupport.h"

namespace guidance {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

/// A prefix laid out as the build tree is (bin/guidance, lib/guidance/plugins/), holding the
/// libraries of `plugins` only, with the tree's manifest and its list of declared plugins.
class BuiltSubset {
 public:
  explicit BuiltSubset(const std::vector<std::string>& plugins) {
    fs::create_directories(bin());
    fs::create_directories(plugin_directory());
    fs::copy_file(testing::cli_path(), program());
    for (const char* file : {PluginManifest::kFileName, PluginCatalog::kAvailableFile}) {
      fs::copy_file(testing::plugin_directory() + "/" + file, plugin_directory() + "/" + file);
    }
    for (const std::string& name : plugins) {
      fs::copy_file(testing::built_library(name),
                    plugin_directory() + "/" + testing::plugin_library_name(name));
    }
  }

  std::string program() const { return bin() + "/guidance"; }
  std::string plugin_directory() const { return prefix_.file("lib/guidance/plugins"); }

 private:
  std::string bin() const { return prefix_.file("bin"); }
  testing::TemporaryDirectory prefix_;
};

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> result;
  std::istringstream stream(text);
  for (std::string line; std::getline(stream, line);) result.push_back(line);
  return result;
}

std::string quickstart_config() { return testing::source_directory() + "/configs/quickstart.toml"; }

std::vector<std::string> quickstart_plugins() {
  testing::CommandResult needed = testing::run_cli("plugins needed '" + quickstart_config() + "'");
  EXPECT_EQ(needed.exit_code, 0) << needed.err;
  return lines(needed.out);
}

TEST(QuickstartPlugins, TheListedPluginsAloneCheckEveryRunOfTheQuickstart) {
  std::vector<std::string> plugins = quickstart_plugins();
  ASSERT_FALSE(plugins.empty());
  BuiltSubset subset(plugins);
  testing::CommandResult check =
      testing::run_command("'" + subset.program() + "' check '" + quickstart_config() + "'");
  EXPECT_EQ(check.exit_code, 0) << check.err;
  EXPECT_THAT(check.out, HasSubstr("runs valid"));
  // Nothing else was there to load: the listing (one line each, piped) holds exactly these.
  testing::CommandResult listing = testing::run_command("env -u COLUMNS '" + subset.program() + "' plugins");
  EXPECT_EQ(listing.exit_code, 0) << listing.err;
  for (const std::string& name : plugins) EXPECT_THAT(listing.out, HasSubstr(testing::plugin_library_name(name)));
  EXPECT_EQ(lines(listing.out).size(), plugins.size() + 1) << listing.out;
}

TEST(QuickstartPlugins, AConfigNeedingAPluginNotBuiltSaysHowToBuildIt) {
  std::vector<std::string> plugins = quickstart_plugins();
  // `trained` is named only in a [sweep] axis's inline table: the deepest place the list reads.
  auto trained = std::find(plugins.begin(), plugins.end(), "trained");
  ASSERT_NE(trained, plugins.end());
  plugins.erase(trained);
  BuiltSubset subset(plugins);
  testing::CommandResult check =
      testing::run_command("'" + subset.program() + "' check '" + quickstart_config() + "'");
  EXPECT_NE(check.exit_code, 0);
  EXPECT_THAT(check.err, HasSubstr("no guide-init plugin named 'trained' is built"));
  EXPECT_THAT(check.err, HasSubstr("--target guidance-plugin-trained`"));
  EXPECT_THAT(check.err, HasSubstr(quickstart_config()));
}

}  // namespace
}  // namespace guidance
