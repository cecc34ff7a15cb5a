// The contract checks `guidance plugins test` runs, on every plugin this tree builds: the list
// comes from the catalog, so a new plugin is checked as soon as it is built. Plugins that read
// files get small files the test writes; a plugin needing parameters without an entry below
// fails its first check, naming the missing parameter.
#include <algorithm>
#include <functional>
#include <map>
#include <stdexcept>

#include "host/contract/ContractChecks.h"
#include "host/training/Checkpoint.h"
#include "tests/support/DataFiles.h"
#include "tests/support/TestSupport.h"

namespace guidance::testing {
namespace {

using Overrides = std::map<std::string, ParamValue>;

/// Parameters (and the files they name) for plugins whose defaults do not open anything here.
const std::map<std::string, std::function<Overrides(const TemporaryDirectory&)>>& fixtures() {
  static const std::map<std::string, std::function<Overrides(const TemporaryDirectory&)>> all = {
      {"cifar10",
       [](const TemporaryDirectory& directory) {
         write_cifar(directory.file("cifar"));
         return Overrides{{"directory", directory.file("cifar")}, {"validation_size", int64_t{2}}};
       }},
      {"image-folder",
       [](const TemporaryDirectory& directory) {
         write_flat_folder(directory.file("images"));
         return Overrides{{"root", directory.file("images")}, {"image_size", int64_t{8}}};
       }},
      {"text",
       [](const TemporaryDirectory& directory) {
         std::string text;
         for (int line = 0; line < 200; ++line) {
           text += "line " + std::to_string(line) + ": the quick brown fox jumps over the dog\n";
         }
         write_file(directory.file("corpus.txt"), text);
         return Overrides{{"path", directory.file("corpus.txt")}, {"context", int64_t{32}}};
       }},
      {"torchscript",
       [](const TemporaryDirectory& directory) {
         CommandResult made = run_command("/usr/bin/python3 '" + source_directory() +
                                          "/tests/plugins/architecture/make_torchscript.py' '" +
                                          directory.path() + "'");
         EXPECT_EQ(made.exit_code, 0) << made.err;
         return Overrides{{"path", directory.file("cnn3.pt")}};
       }},
      {"checkpoint",
       [](const TemporaryDirectory& directory) {
         auto mlp = built_plugins().architecture("mlp");
         auto guide = mlp->build(contract_guide_task(), defaults_of(mlp->info().params));
         save_weights(*guide, directory.file("guide.pt"));
         return Overrides{{"path", directory.file("guide.pt")}};
       }},
  };
  return all;
}

struct PluginUnderTest {
  PluginKind kind;
  std::string name;
};

std::vector<PluginUnderTest> every_built_plugin() {
  std::vector<PluginUnderTest> plugins;
  for (const auto& entry : built_plugins().entries()) {
    plugins.push_back({entry.plugin->kind(), entry.info.name});
  }
  return plugins;
}

class ShippedPluginContract : public ::testing::TestWithParam<PluginUnderTest> {};

TEST_P(ShippedPluginContract, PassesEveryCheck) {
  const CatalogEntry& entry = built_plugins().find(GetParam().kind, GetParam().name);
  TemporaryDirectory directory;
  Params params = defaults_of(entry.info.params);
  if (auto fixture = fixtures().find(entry.info.name); fixture != fixtures().end()) {
    for (const auto& [key, value] : fixture->second(directory)) params.set(key, value);
  }
  ContractOptions options;
  options.seed = 3;
  options.base_directory = directory.path();
  options.architectures = &built_plugins();
  std::vector<CheckResult> results = check_contract(entry, params, options);
  EXPECT_GE(results.size(), 2u) << "a plugin is checked on more than its creation";
  for (const auto& result : results) {
    EXPECT_TRUE(result.passed) << result.check << ": " << result.detail;
  }
}

/// An architecture declaring `init`, which [guide] keeps for its [guide.init] table.
class InitParameterArchitecture : public ArchitecturePlugin {
 public:
  PluginInfo info() const override {
    return {"init-clash", "1.0.0", "declares a parameter its config table cannot hold",
            {ParamSpec::string("init", "he", "named like the key of [guide.init]")}};
  }
  std::shared_ptr<Network> build(const TaskSpec&, const Params&) const override {
    throw std::invalid_argument("init-clash builds nothing");
  }
};

TEST(ContractChecks, AParameterNamedLikeAKeyOfItsConfigTableFailsACheck) {
  auto plugin = std::make_shared<InitParameterArchitecture>();
  CatalogEntry entry{plugin, plugin->info(), "(in this test)"};
  std::vector<CheckResult> results =
      check_contract(entry, defaults_of(entry.info.params), ContractOptions{});
  auto found = std::find_if(results.begin(), results.end(), [](const CheckResult& result) {
    return result.check == "leaves the config table's own keys to the host";
  });
  ASSERT_NE(found, results.end());
  EXPECT_FALSE(found->passed);
  EXPECT_THAT(found->detail, ::testing::HasSubstr("parameter 'init' is the key of [guide]"));
}

INSTANTIATE_TEST_SUITE_P(Catalog, ShippedPluginContract, ::testing::ValuesIn(every_built_plugin()),
                         [](const auto& info) {
                           std::string name = std::string(to_string(info.param.kind)) + "_" +
                                              info.param.name;
                           for (char& c : name) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
                           return name;
                         });

}  // namespace
}  // namespace guidance::testing
