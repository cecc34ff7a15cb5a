#pragma once

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "host/plugins/PluginCatalog.h"

namespace guidance::testing {

/// @return the path of the build tree's plugin directory.
inline std::string plugin_directory() { return GUIDANCE_PLUGIN_DIR; }

/// @return the file name of the library of `plugin`, as the build tree's plugins.available names
/// it; a test failure when the tree does not declare it.
std::string plugin_library_name(const std::string& plugin);

/// @return the path of the built library of `plugin` in plugin_directory().
inline std::string built_library(const std::string& plugin) {
  return plugin_directory() + "/" + plugin_library_name(plugin);
}

/// @return the path of the built `guidance` executable.
inline std::string cli_path() { return GUIDANCE_CLI; }

/// @return the repository root.
inline std::string source_directory() { return GUIDANCE_SOURCE_DIR; }

/// @return the catalog of every plugin built in this tree (loaded once per process).
const PluginCatalog& built_plugins();

/// A fresh, empty directory under the build tree, removed when the test ends.
class TemporaryDirectory {
 public:
  TemporaryDirectory();
  ~TemporaryDirectory();
  const std::string& path() const { return path_; }
  /// @return path()/name
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

/// Writes `text` to `path`, creating parent directories.
void write_file(const std::string& path, const std::string& text);

/// @return the whole content of a file.
std::string read_file(const std::string& path);

/// @return `text` with its first `from` replaced by `to`; a test failure when `from` is absent.
std::string replace_first(std::string text, const std::string& from, const std::string& to);

/// What a command printed and how it ended.
struct CommandResult {
  int exit_code = -1;
  std::string out;  ///< standard output
  std::string err;  ///< standard error
};

/// Runs a shell command line, capturing stdout and stderr separately.
CommandResult run_command(const std::string& command_line);

/// Runs the built `guidance` CLI with the arguments (a shell-quoted string).
CommandResult run_cli(const std::string& arguments);

/// Seeds torch and fixes one thread so numeric tests are reproducible.
class SeededTest : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::manual_seed(1234);
    torch::set_num_threads(1);
  }
};

/// Asserts two tensors have the same shape and agree within tolerances (as torch::allclose).
::testing::AssertionResult tensors_close(const torch::Tensor& actual, const torch::Tensor& expected,
                                         double rtol = 1e-5, double atol = 1e-8);

}  // namespace guidance::testing
