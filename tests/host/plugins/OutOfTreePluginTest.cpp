// The drop-in story end to end: install the plugin API, build plugins/example/perceptron out of
// tree against it, drop the library into a fresh folder, and use it from the unchanged host.
#include <filesystem>

#include "tests/support/TestSupport.h"

namespace guidance {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

TEST(OutOfTreePlugin, BuildsAgainstTheInstalledApiAndIsUsedByTheHost) {
  testing::TemporaryDirectory work;
  const std::string cmake = CMAKE_COMMAND;
  const std::string prefix = work.file("prefix");
  testing::CommandResult install = testing::run_command(
      "'" + cmake + "' --install '" + GUIDANCE_BINARY_DIR + "' --prefix '" + prefix + "'");
  ASSERT_EQ(install.exit_code, 0) << install.out << install.err;
  ASSERT_TRUE(fs::exists(prefix + "/include/guidance/api/PluginApi.h"));

  const std::string build = work.file("build");
  testing::CommandResult configure = testing::run_command(
      "'" + cmake + "' -S '" + testing::source_directory() + "/plugins/example/perceptron' -B '" +
      build + "' -DCMAKE_PREFIX_PATH='" + prefix + "'");
  ASSERT_EQ(configure.exit_code, 0) << configure.out << configure.err;
  // No build type given: the installed package makes it Release (the docs' command line).
  EXPECT_THAT(testing::read_file(build + "/CMakeCache.txt"),
              HasSubstr("CMAKE_BUILD_TYPE:STRING=Release"));
  testing::CommandResult compiled = testing::run_command("'" + cmake + "' --build '" + build + "'");
  ASSERT_EQ(compiled.exit_code, 0) << compiled.out << compiled.err;

  const std::string drop = work.file("drop");
  fs::create_directories(drop);
  fs::copy_file(build + "/libguidance-example-perceptron.so", drop + "/libguidance-example-perceptron.so");

  // The contract checks the shipped plugins pass, on the library file itself.
  testing::CommandResult contract = testing::run_cli(
      "plugins test '" + drop + "/libguidance-example-perceptron.so'");
  EXPECT_EQ(contract.exit_code, 0) << contract.out << contract.err;
  EXPECT_THAT(contract.out,
              HasSubstr("PASS  architecture example-perceptron: gradients reach every parameter"));
  EXPECT_THAT(contract.out, ::testing::Not(HasSubstr("FAIL")));

  testing::CommandResult listed = testing::run_cli("--plugin-dir '" + drop + "' plugins");
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_THAT(listed.out, HasSubstr("example-perceptron"));
  EXPECT_THAT(listed.out, HasSubstr("libguidance-example-perceptron.so"));

  testing::CommandResult described =
      testing::run_cli("--plugin-dir '" + drop + "' plugins describe example-perceptron");
  ASSERT_EQ(described.exit_code, 0) << described.err;
  EXPECT_THAT(described.out, HasSubstr("hidden (integer"));

  const std::string config = work.file("config.toml");
  testing::write_file(config, R"([run]
name = "drop-in"
[dataset]
plugin = "parity"
[target]
plugin = "example-perceptron"
hidden = 16
)");
  // parity is a token task: the host must report the plugin's refusal as a config error...
  testing::CommandResult refused = testing::run_cli("--plugin-dir '" + drop + "' check '" + config + "'");
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_THAT(refused.err, HasSubstr("example-perceptron needs image inputs"));
  EXPECT_THAT(refused.err, HasSubstr(config + ":6:"));

  // ...and accept it on an image task.
  testing::write_file(config, R"([run]
name = "drop-in"
[dataset]
plugin = "fashion-mnist"
train_subset = 1000
[target]
plugin = "example-perceptron"
hidden = 16
)");
  testing::CommandResult checked = testing::run_cli("--plugin-dir '" + drop + "' check '" + config + "'");
  EXPECT_EQ(checked.exit_code, 0) << checked.err;
  EXPECT_THAT(checked.out,
              HasSubstr("target example-perceptron (2 taps, 2 in tap_set 'modules')"));
}

}  // namespace
}  // namespace guidance
