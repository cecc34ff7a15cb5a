#include "host/common/Errors.h"
#include "host/sweep/Sweep.h"
#include "tests/support/TestSupport.h"

namespace guidance {
namespace {

using ::testing::HasSubstr;

ConfigDocument document_of(const testing::TemporaryDirectory& directory, const std::string& text) {
  std::string path = directory.file("sweep.toml");
  testing::write_file(path, text);
  return ConfigDocument::parse(path);
}

TEST(Sweep, WithoutSweepTableYieldsTheDocumentItself) {
  testing::TemporaryDirectory directory;
  auto runs = expand_sweep(document_of(directory, "[run]\nname = \"one\"\n"));
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].name, "one");
  EXPECT_TRUE(runs[0].settings.empty());
}

TEST(Sweep, CrossesAxesAndNamesRunsByTheirValues) {
  testing::TemporaryDirectory directory;
  auto runs = expand_sweep(document_of(directory, R"([run]
name = "grid"
[guidance]
alpha = 1.0
[sweep]
"guidance.enabled" = [false, true]
"guidance.alpha" = [0.5, 2.0, 4.0]
"guide.init" = [{ plugin = "untrained", scheme = "orthogonal" }]
)"));
  ASSERT_EQ(runs.size(), 6u);
  EXPECT_EQ(runs[0].name, "grid/enabled=false,alpha=0.5,init=untrained");
  EXPECT_EQ(runs[5].name, "grid/enabled=true,alpha=4.0,init=untrained");
  const toml::table& root = *runs[4].document.root;
  EXPECT_EQ(root.at_path("guidance.alpha").value<double>(), 2.0);
  EXPECT_EQ(root.at_path("guidance.enabled").value<bool>(), true);
  EXPECT_EQ(root.at_path("guide.init.plugin").value<std::string>(), "untrained");  // created
  EXPECT_EQ(root.at_path("guide.init.scheme").value<std::string>(), "orthogonal");
  EXPECT_EQ(root.at_path("run.name").value<std::string>(), runs[4].name);
  EXPECT_FALSE(root.contains("sweep"));
}

TEST(Sweep, RefusesAnAxisThatIsNotANonEmptyList) {
  testing::TemporaryDirectory directory;
  try {
    expand_sweep(document_of(directory, "[run]\nname = \"x\"\n[sweep]\n\"train.epochs\" = 3\n"));
    FAIL();
  } catch (const ConfigError& error) {
    EXPECT_THAT(error.what(), HasSubstr(":4:"));
    EXPECT_THAT(error.what(), HasSubstr("sweep axis 'train.epochs': expected a non-empty list"));
  }
}

TEST(Sweep, ShardsPartitionTheRuns) {
  EXPECT_EQ(shard_positions(5, 0, 2), (std::vector<size_t>{0, 2, 4}));
  EXPECT_EQ(shard_positions(5, 1, 2), (std::vector<size_t>{1, 3}));
  EXPECT_THROW(shard_positions(5, 2, 2), UsageError);
}

}  // namespace
}  // namespace guidance

namespace guidance {
namespace {

TEST(Sweep, ExpandedRunsKeepSourcePositionsForLaterErrors) {
  testing::TemporaryDirectory directory;
  auto runs = expand_sweep(document_of(directory, R"([run]
name = "grid"
[train]
epochs = "three"
[sweep]
"train.batch_size" = [8, 16]
)"));
  ASSERT_EQ(runs.size(), 2u);
  const toml::node* epochs = runs[1].document.root->at_path("train.epochs").node();
  ASSERT_NE(epochs, nullptr);
  EXPECT_EQ(epochs->source().begin.line, 4u);
}

TEST(Sweep, TableValuesOfOnePluginGetDistinctNames) {
  testing::TemporaryDirectory directory;
  auto runs = expand_sweep(document_of(directory, R"([run]
name = "inits"
[sweep]
"guide.init" = [{ plugin = "trained", epochs = 1 }, { plugin = "trained", epochs = 2 }, { plugin = "untrained" }]
)"));
  ASSERT_EQ(runs.size(), 3u);
  EXPECT_EQ(runs[0].name, "inits/init=trained-1");
  EXPECT_EQ(runs[1].name, "inits/init=trained-2");
  EXPECT_EQ(runs[2].name, "inits/init=untrained");
}

}  // namespace
}  // namespace guidance
