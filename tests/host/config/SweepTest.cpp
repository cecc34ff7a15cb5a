#include <map>
#include <set>
#include <stdexcept>

#include "host/common/Errors.h"
#include "host/sweep/Shards.h"
#include "host/sweep/Sweep.h"
#include "host/sweep/SweepCell.h"
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

namespace guidance {
namespace {

TEST(Sweep, ZipGroupsVaryTheirKeysTogetherAndSeedsAreTheReplicateAxis) {
  testing::TemporaryDirectory directory;
  auto runs = expand_sweep(document_of(directory, R"([run]
name = "study"
[sweep]
"run.seed" = [0, 1]
[sweep.zip.guide]
"guidance.enabled" = [false, true, true]
"guide.init" = [{ plugin = "untrained" }, { plugin = "untrained" }, { plugin = "trained", epochs = 2 }]
)"));
  ASSERT_EQ(runs.size(), 6u);
  EXPECT_EQ(runs[0].name, "study/seed=0,enabled=false,init=untrained");
  EXPECT_EQ(runs[2].name, "study/seed=0,enabled=true,init=trained");
  EXPECT_EQ(runs[5].name, "study/seed=1,enabled=true,init=trained");
  const toml::table& root = *runs[2].document.root;
  EXPECT_EQ(root.at_path("guidance.enabled").value<bool>(), true);
  EXPECT_EQ(root.at_path("guide.init.epochs").value<int64_t>(), 2);
  EXPECT_EQ(runs[5].seed, 1u);
  EXPECT_EQ(runs[5].index, 5u);
  EXPECT_EQ(runs[2].settings,
            (std::vector<SweepSetting>{{"run.seed", "0"},
                                       {"guidance.enabled", "true"},
                                       {"guide.init", "{ epochs = 2, plugin = \"trained\" }"}}));
  ASSERT_EQ(runs[2].replicate, std::optional<size_t>(0));
  EXPECT_EQ(runs[2].cell(), runs[5].cell());
  EXPECT_NE(runs[1].cell(), runs[2].cell());
  EXPECT_EQ(runs[1].cell().size(), 2u);
}

TEST(Sweep, ADeclaredUnguidedBaselineRunsOncePerSeedAndPerSettingItDoesNotIgnore) {
  testing::TemporaryDirectory directory;
  ConfigDocument document = document_of(directory, R"([run]
name = "study"
[guide]
plugin = "convnet"
[sweep]
"run.seed" = [0, 1, 2]
"guide.plugin" = ["convnet", "resnet"]
"train.lr" = [0.1, 0.01]
[sweep.zip.prior]
"guidance.alpha" = [1.0, 2.0]
"guide.init" = [{ plugin = "untrained" }, { plugin = "trained" }]
[sweep.baseline]
"guidance.enabled" = false
)");
  Sweep sweep(document);
  // 3 seeds x 2 guides x 2 lr x 2 priors guided, and the baseline crosses seeds and lr only.
  ASSERT_EQ(sweep.size(), 24u + 6u);
  std::vector<SweepRun> runs = expand_sweep(document);
  ASSERT_EQ(runs.size(), 30u);
  EXPECT_EQ(runs[0].name, "study/baseline,seed=0,lr=0.1");
  EXPECT_EQ(runs[5].name, "study/baseline,seed=2,lr=0.01");
  EXPECT_EQ(runs[6].name, "study/seed=0,plugin=convnet,lr=0.1,alpha=1.0,init=untrained");
  std::set<std::string> names;
  for (const auto& run : runs) {
    EXPECT_TRUE(names.insert(run.name).second) << run.name;
    EXPECT_EQ(run.name, sweep.name(run.index));
  }
  const SweepRun& baseline = runs[4];
  EXPECT_EQ(baseline.document.root->at_path("guidance.enabled").value<bool>(), false);
  EXPECT_EQ(baseline.document.root->at_path("train.lr").value<double>(), 0.1);
  EXPECT_EQ(baseline.document.root->at_path("guide.plugin").value<std::string>(), "convnet");
  EXPECT_EQ(baseline.seed, 2u);
  EXPECT_EQ(baseline.settings, (std::vector<SweepSetting>{{"guidance.enabled", "false"},
                                                          {"run.seed", "2"},
                                                          {"train.lr", "0.1"}}));
  ASSERT_EQ(baseline.replicate, std::optional<size_t>(1));
  EXPECT_EQ(baseline.cell(), runs[0].cell());  // seeds 0 and 2 of one baseline cell
  EXPECT_NE(runs[1].cell(), runs[0].cell());
  EXPECT_TRUE(runs[6].document.root->at_path("guidance.enabled").value<bool>().value_or(true));
  EXPECT_EQ(sweep.varying().count("guidance.enabled"), 1u);
}

TEST(Sweep, ABaselineThatKeepsGuidanceOnCrossesEveryAxisItDoesNotSet) {
  testing::TemporaryDirectory directory;
  auto runs = expand_sweep(document_of(directory, R"([run]
name = "study"
[sweep]
"run.seed" = [0, 1]
"guide.init" = [{ plugin = "trained" }, { plugin = "checkpoint" }]
"guidance.alpha" = [1.0, 2.0]
[sweep.baseline]
"guide.init" = { plugin = "untrained" }
)"));
  // The untrained-guide baseline still crosses guidance.alpha: guidance stays on.
  ASSERT_EQ(runs.size(), 8u + 4u);
  EXPECT_EQ(runs[0].name, "study/baseline,seed=0,alpha=1.0");
  EXPECT_EQ(runs[3].document.root->at_path("guide.init.plugin").value<std::string>(), "untrained");
  EXPECT_EQ(runs[3].document.root->at_path("guidance.alpha").value<double>(), 2.0);
}

TEST(Sweep, ABaselineMustBeATableOfKeyPathsThatLeavesSeedAndNameToTheSweep) {
  testing::TemporaryDirectory directory;
  auto error_of = [&](const std::string& baseline) {
    try {
      expand_sweep(document_of(directory, "[run]\nname = \"x\"\n[sweep]\n\"run.seed\" = [0, 1]\n" +
                                              baseline));
    } catch (const ConfigError& error) {
      return std::string(error.what());
    }
    return std::string("no error");
  };
  EXPECT_THAT(error_of("baseline = 3\n"), HasSubstr(":5:"));
  EXPECT_THAT(error_of("baseline = 3\n"), HasSubstr("expected a table [sweep.baseline]"));
  EXPECT_THAT(error_of("[sweep.baseline]\n\"run.seed\" = 4\n"),
              HasSubstr("baseline key 'run.seed': the baseline runs once per run.seed"));
  EXPECT_THAT(error_of("[sweep.baseline]\n\"a..b\" = 4\n"),
              HasSubstr("baseline key 'a..b' is not a key path of the config"));
  EXPECT_THAT(error_of("[sweep.baseline]\n\"run.name.x\" = 4\n"),
              HasSubstr(":6:16: baseline key 'run.name.x': 'name' is not a table"));
}

TEST(Sweep, ZipGroupListsMustHaveOneLength) {
  testing::TemporaryDirectory directory;
  try {
    expand_sweep(document_of(directory, R"([run]
name = "x"
[sweep.zip.arch]
"target.plugin" = ["mlp", "convnet"]
"target.width" = [64]
)"));
    FAIL();
  } catch (const ConfigError& error) {
    EXPECT_THAT(error.what(), HasSubstr(":5:"));
    EXPECT_THAT(error.what(), HasSubstr("sweep axis 'target.width' in [sweep.zip.arch] has 1 values "
                                        "but 'target.plugin' has 2"));
  }
  EXPECT_THROW(expand_sweep(document_of(directory, "[run]\nname = \"x\"\n[sweep.zip]\ng = 3\n")),
               ConfigError);
  try {
    expand_sweep(document_of(directory,
                             "[run]\nname = \"x\"\n[sweep.zip.g]\n\"run.seed\" = [0, 1]\n\"train.epochs\" = [1, 2]\n"));
    FAIL();
  } catch (const ConfigError& error) {
    EXPECT_THAT(error.what(), HasSubstr("run.seed is the replicate axis"));
  }
  try {
    expand_sweep(document_of(directory,
                             "[run]\nname = \"x\"\n[sweep]\n\"train.epochs\" = [1]\n[sweep.zip.g]\n\"train.epochs\" = [1, 2]\n"));
    FAIL();
  } catch (const ConfigError& error) {
    EXPECT_THAT(error.what(), HasSubstr("'train.epochs' is swept twice"));
  }
}

TEST(Sweep, TooLargeASweepIsRefusedBeforeItIsExpanded) {
  testing::TemporaryDirectory directory;
  // 1000^3 = 10^9 runs: expanding them would take hundreds of gigabytes.
  std::string values = "[0";
  for (int i = 1; i < 1000; ++i) values += ", " + std::to_string(i);
  values += "]";
  try {
    expand_sweep(document_of(directory, "[run]\nname = \"big\"\n\n[sweep]\n\"train.epochs\" = " + values +
                                            "\n\"train.max_steps\" = " + values +
                                            "\n\"run.seed\" = " + values + "\n"));
    FAIL();
  } catch (const ConfigError& error) {
    EXPECT_THAT(error.what(), HasSubstr("sweep.toml:4:1: key 'sweep'"));
    EXPECT_THAT(error.what(), HasSubstr("1000 x 1000 x 1000 values"));
    EXPECT_THAT(error.what(), HasSubstr("more than 100000 runs"));
  }
  // At the limit exactly, the sweep is allowed (counted, not expanded here).
  EXPECT_EQ(kMaxSweepRuns, 100000u);
}

TEST(Sweep, ASweepNeedsARunNameThatIsAString) {
  testing::TemporaryDirectory directory;
  try {
    expand_sweep(document_of(directory, "[run]\nseed = 1\n[sweep]\n\"run.seed\" = [1, 2]\n"));
    FAIL();
  } catch (const ConfigError& error) {
    EXPECT_THAT(error.what(), HasSubstr("sweep.toml:1:1: missing required key 'run.name' in table [run]"));
  }
  try {
    expand_sweep(document_of(directory, "[run]\nname = 3\n[sweep]\n\"run.seed\" = [1, 2]\n"));
    FAIL();
  } catch (const ConfigError& error) {
    EXPECT_THAT(error.what(), HasSubstr("sweep.toml:2:8: key 'run.name'"));
  }
  EXPECT_THROW(expand_sweep(document_of(directory, "[sweep]\n\"run.seed\" = [1, 2]\n")), ConfigError);
  EXPECT_THROW(expand_sweep(document_of(directory, "[run]\nname = \"/abs\"\n[sweep]\n\"run.seed\" = [1]\n")),
               ConfigError);
}

TEST(Sweep, RunNamesAreSafePathComponents) {
  testing::TemporaryDirectory directory;
  auto runs = expand_sweep(document_of(directory, R"([run]
name = "safe"
[sweep]
"dataset.directory" = ["../../etc", "a b", "a_b", "x/y"]
"guidance.layer_map" = [[["a", "b"]]]
)"));
  ASSERT_EQ(runs.size(), 4u);
  EXPECT_EQ(runs[0].name, "safe/directory=.__.__etc,layer_map=___a____b___");
  EXPECT_EQ(runs[1].name, "safe/directory=a_b-2,layer_map=___a____b___");
  EXPECT_EQ(runs[2].name, "safe/directory=a_b-3,layer_map=___a____b___");
  EXPECT_EQ(runs[3].name, "safe/directory=x_y,layer_map=___a____b___");
  EXPECT_EQ(runs[3].settings[0], (SweepSetting{"dataset.directory", "\"x/y\""}));
  EXPECT_EQ(runs[3].settings[1], (SweepSetting{"guidance.layer_map", "[[\"a\", \"b\"]]"}));
  // Stable: the same file names the same runs.
  auto again = expand_sweep(ConfigDocument::parse(directory.file("sweep.toml")));
  ASSERT_EQ(again.size(), 4u);
  EXPECT_EQ(again[2].name, runs[2].name);
}

TEST(Sweep, LongRunNamesAreCutWithAHashOfTheWhole) {
  testing::TemporaryDirectory directory;
  std::string long_a(150, 'a');
  auto runs = expand_sweep(document_of(directory, "[run]\nname = \"long\"\n[sweep]\n\"dataset.directory\" = [\"" +
                                                      long_a + "1\", \"" + long_a + "2\"]\n"));
  ASSERT_EQ(runs.size(), 2u);
  std::string suffix = runs[0].name.substr(5);
  EXPECT_EQ(suffix.size(), config_limits::kMaxRunNameComponentBytes);
  EXPECT_EQ(suffix.substr(0, 20), "directory=aaaaaaaaaa");
  EXPECT_NE(runs[0].name, runs[1].name);
  EXPECT_EQ(run_name_problem(runs[0].name), "");
}

TEST(Sweep, SweepCellsRoundTripThroughTheirFile) {
  testing::TemporaryDirectory directory;
  auto runs = expand_sweep(document_of(directory, R"([run]
name = "cells"
[sweep]
"guide.init" = [{ plugin = "trained", epochs = 2 }]
"run.seed" = [3, 4]
)"));
  SweepCell cell = sweep_cell(runs[1], runs.size(), directory.file("sweep.toml"));
  write_sweep_cell(cell, directory.file("run"));
  std::optional<SweepCell> read = read_sweep_cell(directory.file("run"));
  ASSERT_TRUE(read.has_value());
  EXPECT_EQ(read->study, "cells");
  EXPECT_EQ(read->run, "cells/init=trained,seed=4");
  EXPECT_EQ(read->config, directory.file("sweep.toml"));
  EXPECT_EQ(read->index, 1u);
  EXPECT_EQ(read->runs, 2u);
  EXPECT_EQ(read->seed, 4u);
  EXPECT_EQ(read->replicate, std::optional<std::string>("run.seed"));
  EXPECT_EQ(read->settings, runs[1].settings);
  EXPECT_EQ(read->cell(), (std::vector<SweepSetting>{{"guide.init", "{ epochs = 2, plugin = \"trained\" }"}}));
  EXPECT_FALSE(read_sweep_cell(directory.file("none")).has_value());
}

TEST(Sweep, SlurmShardsComeFromTheArrayVariables) {
  auto from = [](std::map<std::string, std::string> variables) {
    return [variables](const char* name) -> const char* {
      auto found = variables.find(name);
      return found == variables.end() ? nullptr : found->second.c_str();
    };
  };
  Shard shard = slurm_shard(from({{"SLURM_ARRAY_TASK_ID", "12"}, {"SLURM_ARRAY_TASK_COUNT", "4"},
                                  {"SLURM_ARRAY_TASK_MIN", "10"}}));
  EXPECT_EQ(shard.index, 2);
  EXPECT_EQ(shard.count, 4);
  shard = slurm_shard(from({{"SLURM_ARRAY_TASK_ID", "5"}, {"SLURM_ARRAY_TASK_COUNT", "3"},
                            {"SLURM_ARRAY_TASK_MIN", "1"}, {"SLURM_ARRAY_TASK_STEP", "2"}}));
  EXPECT_EQ(shard.index, 2);
  try {
    slurm_shard(from({{"SLURM_ARRAY_TASK_ID", "1"}, {"SLURM_ARRAY_TASK_MIN", "0"}}));
    FAIL();
  } catch (const UsageError& error) {
    EXPECT_THAT(error.what(), HasSubstr("SLURM_ARRAY_TASK_COUNT"));
  }
  EXPECT_THROW(slurm_shard(from({{"SLURM_ARRAY_TASK_ID", "x"}, {"SLURM_ARRAY_TASK_COUNT", "2"},
                                 {"SLURM_ARRAY_TASK_MIN", "0"}})),
               UsageError);
  EXPECT_THROW(slurm_shard(from({{"SLURM_ARRAY_TASK_ID", "2"}, {"SLURM_ARRAY_TASK_COUNT", "2"},
                                 {"SLURM_ARRAY_TASK_MIN", "0"}})),
               UsageError);
}

}  // namespace
}  // namespace guidance

namespace guidance {
namespace {

TEST(Sweep, FloatsAreNamedByTheirShortestText) {
  testing::TemporaryDirectory directory;
  auto runs = expand_sweep(document_of(directory, R"([run]
name = "lr"
[sweep]
"train.learning_rate" = [0.003, 1e-4, 2.0, 1e300]
)"));
  ASSERT_EQ(runs.size(), 4u);
  EXPECT_EQ(runs[0].name, "lr/learning_rate=0.003");
  EXPECT_EQ(runs[1].name, "lr/learning_rate=0.0001");
  EXPECT_EQ(runs[2].name, "lr/learning_rate=2.0");
  EXPECT_EQ(runs[3].name, "lr/learning_rate=1e+300");
  EXPECT_EQ(runs[0].settings[0].second, "0.003");
}

}  // namespace
}  // namespace guidance

namespace guidance {
namespace {

TEST(Sweep, ARunExpandedAloneEqualsItsRunInTheWholeExpansion) {
  testing::TemporaryDirectory directory;
  ConfigDocument document = document_of(directory, R"([run]
name = "alone"
[train]
epochs = 3
[sweep]
"guidance.alpha" = [0.5, 1.0, 2.0]
"run.seed" = [0, 1]
"guide.init" = [{ plugin = "trained", epochs = 1 }, { plugin = "trained", epochs = 2 }]
[sweep.zip.guide]
"guidance.enabled" = [false, true, true]
"guide.plugin" = ["mlp", "mlp", "convnet"]
)");
  std::vector<SweepRun> all = expand_sweep(document);
  Sweep sweep(document);
  ASSERT_EQ(sweep.size(), 36u);
  ASSERT_EQ(all.size(), sweep.size());
  EXPECT_EQ(sweep.study(), "alone");
  EXPECT_EQ(sweep.varying(), (std::set<std::string>{"guidance.alpha", "run.seed", "guide.init",
                                                    "guidance.enabled", "guide.plugin"}));
  for (size_t index : {0, 1, 2, 5, 7, 17, 22, 35}) {
    SweepRun run = sweep.run(index);
    const SweepRun& expected = all[index];
    EXPECT_EQ(run.index, index);
    EXPECT_EQ(run.name, expected.name) << index;
    EXPECT_EQ(sweep.name(index), expected.name) << index;
    EXPECT_EQ(run.settings, expected.settings) << index;
    EXPECT_EQ(run.replicate, expected.replicate) << index;
    EXPECT_EQ(run.seed, expected.seed) << index;
    EXPECT_TRUE(*run.document.root == *expected.document.root) << index;
    const toml::node* epochs = run.document.root->at_path("train.epochs").node();
    ASSERT_NE(epochs, nullptr);
    EXPECT_EQ(epochs->source().begin.line, 4u);  // parsed afresh: later errors name the line
  }
  // The last axis varies fastest; the zip group crosses where its first key is listed.
  EXPECT_EQ(all[7].name, "alone/alpha=0.5,seed=1,init=trained-1,enabled=true,plugin=mlp");
  EXPECT_EQ(all[35].name, "alone/alpha=2.0,seed=1,init=trained-2,enabled=true,plugin=convnet");
  EXPECT_THROW(sweep.run(36), std::out_of_range);
}

TEST(Sweep, RunsKeepTheLinesAndColumnsOfTheNodesAroundTheLists) {
  testing::TemporaryDirectory directory;
  // Lists over several lines, with comments, with characters of several bytes and followed by
  // another list on their line: each run parses the file with the lists left out.
  ConfigDocument document = document_of(directory, R"([run]
name = "places"
[sweep]
"target.width" = [
  8,  # «eight»
  16,
]
zip = { g = { "dataset.directory" = ["é/ü", "日本"], "target.depth" = [1, 2] } }
"train.epochs" = [1,
                  2]

[train]
learning_rate = "fast"
)");
  Sweep sweep(document);
  ASSERT_EQ(sweep.size(), 8u);
  SweepRun run = sweep.run(7);
  EXPECT_EQ(run.name, "places/width=16,directory=______,depth=2,epochs=2");
  const toml::table& root = *run.document.root;
  EXPECT_EQ(root.at_path("target.width").value<int64_t>(), 16);
  EXPECT_EQ(root.at_path("dataset.directory").value<std::string>(), "日本");
  EXPECT_EQ(root.at_path("target.depth").value<int64_t>(), 2);
  EXPECT_EQ(root.at_path("train.epochs").value<int64_t>(), 2);
  EXPECT_FALSE(root.contains("sweep"));
  const toml::node* rate = root.at_path("train.learning_rate").node();
  ASSERT_NE(rate, nullptr);
  EXPECT_EQ(rate->source().begin.line, 13u);
  EXPECT_EQ(rate->source().begin.column, 17u);
  EXPECT_EQ(root.at_path("train").node()->source().begin,
            document.root->at_path("train").node()->source().begin);

  // [sweep] last, its lists over several lines: nothing after them needs their lines.
  Sweep last(document_of(directory, R"([train]
learning_rate = "fast"
[run]
name = "last"
[sweep]
"train.epochs" = [
  1,
  2,
]
"run.seed" = [
  3,
  4
])"));
  SweepRun three = last.run(3);
  EXPECT_EQ(three.name, "last/epochs=2,seed=4");
  EXPECT_EQ(three.document.root->at_path("train.epochs").value<int64_t>(), 2);
  EXPECT_EQ(three.document.root->at_path("train.learning_rate").node()->source().begin.line, 2u);
}

TEST(Sweep, ADocumentWithoutSweepIsOneRunItself) {
  testing::TemporaryDirectory directory;
  ConfigDocument document = document_of(directory, "[run]\nname = \"one\"\nseed = 7\n");
  Sweep sweep(document);
  ASSERT_EQ(sweep.size(), 1u);
  EXPECT_EQ(sweep.study(), "one");
  EXPECT_TRUE(sweep.varying().empty());
  SweepRun run = sweep.run(0);
  EXPECT_EQ(run.document.root, document.root);
  EXPECT_EQ(run.name, "one");
  EXPECT_EQ(run.seed, 7u);
}

TEST(Sweep, ARunIsExpandedWithoutExpandingTheOthers) {
  testing::TemporaryDirectory directory;
  // Run 1 sets 'target' to 3, through which 'target.hidden' cannot be set; runs 0 and 2 can be
  // expanded alone all the same.
  Sweep sweep(document_of(directory, R"([run]
name = "lazy"
[sweep]
"target" = [{ plugin = "rnn" }, 3, { plugin = "mlp" }]
"target.hidden" = [8]
)"));
  EXPECT_EQ(sweep.run(2).document.root->at_path("target.hidden").value<int64_t>(), 8);
  EXPECT_EQ(sweep.run(0).name, "lazy/target=rnn,hidden=8");
  try {
    sweep.run(1);
    FAIL();
  } catch (const ConfigError& error) {
    EXPECT_THAT(error.what(), HasSubstr("sweep axis 'target.hidden': 'target' is not a table"));
  }
}

}  // namespace
}  // namespace guidance
