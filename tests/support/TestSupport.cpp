#include "tests/support/TestSupport.h"

#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

namespace guidance::testing {

namespace fs = std::filesystem;

const PluginCatalog& built_plugins() {
  static const PluginCatalog catalog = [] {
    PluginCatalog loaded;
    loaded.load_directory(plugin_directory());
    loaded.require_no_problems();
    return loaded;
  }();
  return catalog;
}

std::string plugin_library_name(const std::string& plugin) {
  for (const auto& declared : PluginCatalog::declared_plugins(plugin_directory())) {
    if (declared.name == plugin) return declared.library;
  }
  ADD_FAILURE() << "the build tree declares no plugin '" << plugin << "' in "
                << plugin_directory() << "/" << PluginCatalog::kAvailableFile;
  return {};
}

TemporaryDirectory::TemporaryDirectory() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = info ? std::string(info->test_suite_name()) + "." + info->name() : "test";
  std::random_device random;
  fs::path path = fs::path(GUIDANCE_BINARY_DIR) / "test-scratch" /
                  (name + "-" + std::to_string(getpid()) + "-" + std::to_string(random()));
  fs::create_directories(path);
  path_ = path.string();
}

TemporaryDirectory::~TemporaryDirectory() {
  std::error_code ignored;
  fs::remove_all(path_, ignored);
}

void write_file(const std::string& path, const std::string& text) {
  fs::path parent = fs::path(path).parent_path();
  if (!parent.empty()) fs::create_directories(parent);
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string replace_first(std::string text, const std::string& from, const std::string& to) {
  size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << "no '" << from << "' in the text";
  return at == std::string::npos ? text : text.replace(at, from.size(), to);
}

CommandResult run_command(const std::string& command_line) {
  TemporaryDirectory scratch;
  std::string out_path = scratch.file("stdout");
  std::string err_path = scratch.file("stderr");
  std::string full = "(" + command_line + ") >'" + out_path + "' 2>'" + err_path + "'";
  int status = std::system(full.c_str());
  CommandResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.out = read_file(out_path);
  result.err = read_file(err_path);
  return result;
}

CommandResult run_cli(const std::string& arguments) {
  return run_command("'" + cli_path() + "' " + arguments);
}

::testing::AssertionResult tensors_close(const torch::Tensor& actual, const torch::Tensor& expected,
                                         double rtol, double atol) {
  if (actual.sizes() != expected.sizes()) {
    return ::testing::AssertionFailure()
           << "shapes differ: " << actual.sizes() << " vs " << expected.sizes();
  }
  torch::Tensor a = actual.to(torch::kDouble).cpu();
  torch::Tensor e = expected.to(torch::kDouble).cpu();
  if (torch::allclose(a, e, rtol, atol)) return ::testing::AssertionSuccess();
  double worst = (a - e).abs().max().item<double>();
  return ::testing::AssertionFailure() << "tensors differ: max |actual - expected| = " << worst
                                       << " (rtol " << rtol << ", atol " << atol << ")";
}

}  // namespace guidance::testing
