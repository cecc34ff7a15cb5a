#include <filesystem>

#include "host/common/Errors.h"
#include "host/plugins/PluginCatalog.h"
#include "tests/support/TestSupport.h"

namespace guidance {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

std::string fixture(const std::string& folder) { return std::string(FIXTURE_DIR) + "/" + folder; }

TEST(PluginCatalog, LoadsAValidLibraryAndMakesObjectsThatOutliveTheCatalog) {
  std::shared_ptr<Metric> metric;
  {
    PluginCatalog catalog;
    catalog.load_directory(fixture("valid"));
    ASSERT_TRUE(catalog.problems().empty());
    ASSERT_EQ(catalog.names(PluginKind::Metric), std::vector<std::string>{"fixture-metric"});
    auto plugin = catalog.metric("fixture-metric");
    metric = keep_library_alive(plugin->create({}),
                                catalog.library_of(catalog.find(PluginKind::Metric, "fixture-metric")));
  }
  // The catalog is gone; the metric still works because it holds its library.
  torch::Tensor value = metric->compute(torch::ones({4, 3}), torch::ones({4, 2}));
  EXPECT_EQ(value.item<double>(), 0.0);
}

TEST(PluginCatalog, RefusesAMissingDirectoryNamingIt) {
  PluginCatalog catalog;
  try {
    catalog.load_directory("/nonexistent/plugins");
    FAIL() << "expected PluginLoadError";
  } catch (const PluginLoadError& error) {
    EXPECT_THAT(error.what(), HasSubstr("'/nonexistent/plugins' does not exist"));
  }
}

TEST(PluginCatalog, RefusesAFileThatIsNotALibrary) {
  testing::TemporaryDirectory directory;
  testing::write_file(directory.file("libbroken.so"), "this is not an ELF file\n");
  PluginCatalog catalog;
  catalog.load_directory(directory.path());
  ASSERT_EQ(catalog.problems().size(), 1u);
  EXPECT_THAT(catalog.problems()[0], HasSubstr(directory.file("libbroken.so")));
  EXPECT_THAT(catalog.problems()[0], HasSubstr("not a loadable library"));
  EXPECT_THROW(catalog.require_no_problems(), PluginLoadError);
}

TEST(PluginCatalog, IgnoresFilesThatAreNotSharedLibraries) {
  testing::TemporaryDirectory directory;
  testing::write_file(directory.file("README.txt"), "notes\n");
  PluginCatalog catalog;
  catalog.load_directory(directory.path());
  EXPECT_TRUE(catalog.problems().empty());
  EXPECT_TRUE(catalog.entries().empty());
}

TEST(PluginCatalog, RefusesALibraryWithoutTheEntrySymbol) {
  PluginCatalog catalog;
  catalog.load_directory(fixture("no-entry"));
  ASSERT_EQ(catalog.problems().size(), 1u);
  EXPECT_THAT(catalog.problems()[0], HasSubstr("libfixture-no-entry.so"));
  EXPECT_THAT(catalog.problems()[0], HasSubstr("lacks the entry symbol 'guidance_plugin_library'"));
}

// docs/plugins.md states the ABI version plugin authors build against; it once said 1 while the
// code said 2.
TEST(PluginCatalog, ThePluginGuideStatesTheAbiVersionOfTheCode) {
  std::string guide = testing::read_file(testing::source_directory() + "/docs/plugins.md");
  EXPECT_THAT(guide, HasSubstr("`guidance::kAbiVersion` (currently " +
                               std::to_string(kAbiVersion) + ")"));
  EXPECT_THAT(guide, HasSubstr("but this host uses version " + std::to_string(kAbiVersion)));
}

TEST(PluginCatalog, RefusesAnAbiMismatchNamingBothVersions) {
  PluginCatalog catalog;
  catalog.load_directory(fixture("wrong-abi"));
  ASSERT_EQ(catalog.problems().size(), 1u);
  const std::string& problem = catalog.problems()[0];
  EXPECT_THAT(problem, HasSubstr("libfixture-wrong-abi.so"));
  EXPECT_THAT(problem, HasSubstr("ABI version " + std::to_string(kAbiVersion + 41)));
  EXPECT_THAT(problem, HasSubstr("this host uses version " + std::to_string(kAbiVersion)));
  EXPECT_TRUE(catalog.entries().empty());
}

TEST(PluginCatalog, RefusesTwoPluginsOfOneKindAndNameNamingBothFiles) {
  PluginCatalog catalog;
  catalog.load_directory(fixture("duplicate"));
  ASSERT_EQ(catalog.problems().size(), 1u);
  const std::string& problem = catalog.problems()[0];
  EXPECT_THAT(problem, HasSubstr("two metric plugins are named 'fixture-twin'"));
  EXPECT_THAT(problem, HasSubstr("libfixture-duplicate-a.so"));
  EXPECT_THAT(problem, HasSubstr("libfixture-duplicate-b.so"));
}

TEST(PluginCatalog, ReportsARegistrationThatThrows) {
  PluginCatalog catalog;
  catalog.load_directory(fixture("throws"));
  ASSERT_EQ(catalog.problems().size(), 1u);
  EXPECT_THAT(catalog.problems()[0], HasSubstr("fixture refuses to register"));
}

// A plugin the build tree declares (plugins.available) but has not built is not a typo: the
// message gives the command that builds it instead of a suggestion. Whether it is built is read
// from the library file the list names (here not the shipped `libguidance-NAME.so` form), so the
// host holds no naming rule of its own.
TEST(PluginCatalog, APluginDeclaredButNotBuiltNamesTheCommandThatBuildsIt) {
  testing::TemporaryDirectory directory;
  testing::write_file(directory.file(PluginCatalog::kAvailableFile),
                      "# declared plugins\n"
                      "fixture-metri libmetri.so cmake --build /b --target guidance-plugin-fixture-metri\n"
                      "lab-similarity-two liblab.so cmake --build /b --target lab\n");
  PluginCatalog catalog;
  catalog.load_directory(fixture("valid"));
  catalog.load_directory(directory.path());
  try {
    catalog.find(PluginKind::Metric, "fixture-metri");
    FAIL() << "expected UnknownPluginError";
  } catch (const UnknownPluginError& error) {
    EXPECT_THAT(error.what(), HasSubstr("no metric plugin named 'fixture-metri' is built"));
    EXPECT_THAT(error.what(),
                HasSubstr("`cmake --build /b --target guidance-plugin-fixture-metri`"));
    EXPECT_THAT(error.what(), Not(HasSubstr("did you mean")));
  }
  // A name that only begins like a declared one is not declared.
  try {
    catalog.find(PluginKind::Metric, "lab-similarity");
    FAIL() << "expected UnknownPluginError";
  } catch (const UnknownPluginError& error) {
    EXPECT_THAT(error.what(), Not(HasSubstr("is built")));
    EXPECT_THAT(error.what(), HasSubstr("--plugin-dir DIR"));
  }
  // Declared and its library present in that folder: not reported as unbuilt.
  fs::copy_file(fixture("valid") + "/libfixture-valid.so", directory.file("libmetri.so"));
  PluginCatalog with_library;
  with_library.load_directory(directory.path());
  try {
    with_library.find(PluginKind::Metric, "fixture-metri");
    FAIL() << "expected UnknownPluginError";
  } catch (const UnknownPluginError& error) {
    EXPECT_THAT(error.what(), Not(HasSubstr("is built")));
    EXPECT_THAT(error.what(), HasSubstr("did you mean 'fixture-metric'?"));
  }
}

TEST(PluginCatalog, UnknownNameSuggestsTheClosestAndListsTheKind) {
  PluginCatalog catalog;
  catalog.load_directory(fixture("valid"));
  try {
    catalog.find(PluginKind::Metric, "fixture-metrc");
    FAIL() << "expected UnknownPluginError";
  } catch (const UnknownPluginError& error) {
    EXPECT_THAT(error.what(), HasSubstr("no metric plugin named 'fixture-metrc'"));
    EXPECT_THAT(error.what(), HasSubstr("did you mean 'fixture-metric'?"));
    EXPECT_THAT(error.what(), Not(HasSubstr("--plugin-dir")));
  }
  // No close name: perhaps a plugin built elsewhere, so the ways to load one are named.
  try {
    catalog.find(PluginKind::Metric, "lab-similarity");
    FAIL() << "expected UnknownPluginError";
  } catch (const UnknownPluginError& error) {
    EXPECT_THAT(error.what(), HasSubstr("--plugin-dir DIR, $GUIDANCE_PLUGIN_PATH or run.plugin_dirs"));
  }
  try {
    catalog.find(PluginKind::Architecture, "fixture-metric");
    FAIL() << "expected UnknownPluginError";
  } catch (const UnknownPluginError& error) {
    EXPECT_THAT(error.what(), HasSubstr("'fixture-metric' is a metric plugin"));
  }
}

TEST(PluginCatalog, BuiltInDirectoryHoldsAllFourKinds) {
  const PluginCatalog& catalog = testing::built_plugins();
  for (PluginKind kind : {PluginKind::Architecture, PluginKind::Dataset, PluginKind::Metric,
                          PluginKind::GuideInit}) {
    EXPECT_FALSE(catalog.names(kind).empty()) << to_string(kind);
  }
}

TEST(PluginCli, ListsPluginsAndReportsBrokenDirectoriesWithExitCode2) {
  testing::CommandResult listed = testing::run_cli("plugins");
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_THAT(listed.out, HasSubstr("KIND"));
  EXPECT_THAT(listed.out, HasSubstr("linear-cka"));
  EXPECT_THAT(listed.out, HasSubstr("untrained"));

  testing::CommandResult missing = testing::run_cli("--plugin-dir /nonexistent/dir plugins");
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.err, HasSubstr("'/nonexistent/dir' does not exist"));

  testing::CommandResult broken =
      testing::run_cli("--plugin-dir '" + fixture("wrong-abi") + "' plugins");
  EXPECT_EQ(broken.exit_code, 2);
  EXPECT_THAT(broken.err, HasSubstr("libfixture-wrong-abi.so"));
  EXPECT_THAT(broken.out, HasSubstr("linear-cka"));  // the rest still listed
}

TEST(PluginCli, DescribeReportsARefusedLibraryButExits0HavingDescribedThePlugin) {
  testing::CommandResult described = testing::run_cli(
      "--plugin-dir '" + fixture("wrong-abi") + "' plugins describe linear-cka");
  EXPECT_EQ(described.exit_code, 0) << described.err;
  EXPECT_THAT(described.out, HasSubstr("linear-cka (metric plugin"));
  EXPECT_THAT(described.err, HasSubstr("libfixture-wrong-abi.so"));

  testing::CommandResult help = testing::run_cli("plugins --help");
  EXPECT_THAT(help.out, HasSubstr("the listing then exits 2, 'describe' still exits 0"));
}

TEST(PluginCli, EnvironmentPathIsSearchedAndCheckedToo) {
  testing::CommandResult result = testing::run_command(
      "GUIDANCE_PLUGIN_PATH='" + fixture("valid") + "' '" + testing::cli_path() + "' plugins");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("fixture-metric"));
  testing::CommandResult bad = testing::run_command(
      "GUIDANCE_PLUGIN_PATH=/no/such/place '" + testing::cli_path() + "' plugins");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.err, HasSubstr("GUIDANCE_PLUGIN_PATH"));
}

}  // namespace
}  // namespace guidance
