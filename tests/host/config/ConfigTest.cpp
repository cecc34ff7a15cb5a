#include <algorithm>

#include "host/common/Errors.h"
#include "host/config/Config.h"
#include "host/config/ConfigKeys.h"
#include "tests/support/TestSupport.h"

namespace guidance {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr const char* kValid = R"([run]
name = "unit"
seed = 3

[dataset]
plugin = "parity"

[target]
plugin = "rnn"

[guide]
plugin = "transformer"

[guide.init]
plugin = "untrained"

[guidance]
alpha = 0.5
layer_map = "uniform"

[guidance.metric]
plugin = "linear-cka"

[train]
optimizer = "sgd"
learning_rate = 0.01
batch_size = 32
)";

class ConfigTest : public ::testing::Test {
 protected:
  Config load(const std::string& text) {
    std::string path = directory_.file("config.toml");
    testing::write_file(path, text);
    return validate_config(ConfigDocument::parse(path), testing::built_plugins());
  }

  /// @return the message of the ConfigError that loading `text` raises.
  std::string error_of(const std::string& text) {
    try {
      load(text);
    } catch (const ConfigError& error) {
      return error.what();
    }
    ADD_FAILURE() << "expected a ConfigError";
    return "";
  }

  std::string path() const { return directory_.file("config.toml"); }

  /// @return what `guidance plugins needed` lists for a config of `text` and `overrides`.
  std::vector<std::string> plugin_names(const std::string& text,
                                        const ConfigOverrides& overrides = {}) {
    testing::write_file(path(), text);
    return ConfigDocument::parse(path(), overrides).plugin_names();
  }

  testing::TemporaryDirectory directory_;
};

TEST_F(ConfigTest, ParsesAValidConfigWithDefaultsFilledIn) {
  Config config = load(kValid);
  EXPECT_EQ(config.run.name, "unit");
  EXPECT_EQ(config.run.seed, 3u);
  EXPECT_EQ(config.dataset.name, "parity");
  EXPECT_TRUE(config.guided());
  EXPECT_EQ(config.guide->architecture.name, "transformer");
  EXPECT_DOUBLE_EQ(config.guidance.alpha, 0.5);
  EXPECT_EQ(config.train.optimizer, Optimizer::Sgd);
  EXPECT_EQ(config.train.batch_size, 32);
  EXPECT_EQ(config.train.epochs, 1);  // default
  // Every schema parameter of the plugin is present after validation.
  auto schema = testing::built_plugins().find(PluginKind::Architecture, "rnn").info.params;
  for (const auto& spec : schema) EXPECT_TRUE(config.target.params.has(spec.name)) << spec.name;
  EXPECT_THAT(config.resolved_toml(), HasSubstr("optimizer = 'sgd'"));
}

TEST_F(ConfigTest, RecordMetricsTakeParametersAndNames) {
  Config plain = load(kValid);
  ASSERT_EQ(plain.record.metrics.size(), 1u);
  EXPECT_EQ(plain.record.metrics[0].name, "linear-cka");

  Config config = load(std::string(kValid) + R"([record]
metrics = ["rsa", { plugin = "mutual-knn", name = "knn-5", k = 5 }, { plugin = "cca", weighting = "pwcca" }]
)");
  const auto& metrics = config.record.metrics;
  ASSERT_EQ(metrics.size(), 3u);
  EXPECT_EQ(metrics[0].name, "rsa");
  EXPECT_EQ(metrics[1].name, "knn-5");
  EXPECT_EQ(metrics[1].plugin.name, "mutual-knn");
  EXPECT_EQ(metrics[1].plugin.params.integer("k"), 5);
  EXPECT_EQ(metrics[2].name, "cca");
  EXPECT_EQ(metrics[2].plugin.params.string("weighting"), "pwcca");
  EXPECT_THAT(metrics[1].plugin.location, HasSubstr(path() + ":29:"));
  // The resolved config reads back to the same metrics.
  testing::write_file(directory_.file("resolved.toml"), config.resolved_toml());
  Config again = validate_config(ConfigDocument::parse(directory_.file("resolved.toml")),
                                 testing::built_plugins());
  ASSERT_EQ(again.record.metrics.size(), 3u);
  EXPECT_EQ(again.record.metrics[1].name, "knn-5");
  EXPECT_EQ(again.record.metrics[1].plugin.params.integer("k"), 5);
}

TEST_F(ConfigTest, RecordMetricErrorsNameTheEntry) {
  auto with_metrics = [](const std::string& list) {
    return std::string(kValid) + "[record]\nmetrics = " + list + "\n";
  };
  std::string message = error_of(with_metrics(R"(["rsa", { plugin = "mutual-knn", kk = 5 }])"));
  EXPECT_THAT(message, HasSubstr(path() + ":29:"));
  EXPECT_THAT(message, HasSubstr("unknown key 'record.metrics[1].kk'"));
  EXPECT_THAT(message, HasSubstr("did you mean 'k'?"));
  message = error_of(with_metrics(R"(["rsa", { plugin = "rsa" }])"));
  EXPECT_THAT(message, HasSubstr("key 'record.metrics[1]': the record already has a metric named 'rsa'"));
  message = error_of(with_metrics(R"(["linear-ckaa"])"));
  EXPECT_THAT(message, HasSubstr("key 'record.metrics[0]'"));
  EXPECT_THAT(message, HasSubstr("linear-cka"));
  message = error_of(with_metrics(R"([3])"));
  EXPECT_THAT(message, HasSubstr("key 'record.metrics[0]': expected a metric plugin name or a table"));
  message = error_of(with_metrics(R"([{ plugin = "rsa", name = "a/b" }])"));
  EXPECT_THAT(message, HasSubstr("'a/b' cannot name an HDF5 group"));
}

TEST_F(ConfigTest, SyntaxErrorGivesFileLineAndColumn) {
  std::string message = error_of(testing::replace_first(kValid, "alpha = 0.5", "alpha = = 0.5"));
  EXPECT_THAT(message, HasSubstr(path() + ":18:"));
  EXPECT_THAT(message, HasSubstr("TOML syntax error"));
}

// run.plugin_dirs is read before plugins load; a folder that is missing or a file is refused
// there with the key's location, like any other key.
TEST_F(ConfigTest, PluginDirsThatAreNotFoldersAreRefusedWithTheKeysLocation) {
  auto plugin_dirs_error = [&](const std::string& dir) {
    testing::write_file(path(), testing::replace_first(kValid, "seed = 3",
                                                       "seed = 3\nplugin_dirs = [\"" + dir + "\"]"));
    try {
      ConfigDocument::parse(path()).plugin_dirs();
    } catch (const ConfigError& error) {
      return std::string(error.what());
    }
    ADD_FAILURE() << "plugin_dirs = [" << dir << "] was accepted";
    return std::string();
  };
  std::string missing = plugin_dirs_error(directory_.file("no-such-folder"));
  EXPECT_THAT(missing, HasSubstr(path() + ":4:"));
  EXPECT_THAT(missing, HasSubstr("run.plugin_dirs"));
  EXPECT_THAT(missing, HasSubstr("plugin directory '" + directory_.file("no-such-folder") +
                                 "' does not exist"));
  testing::write_file(directory_.file("a-file"), "");
  std::string file = plugin_dirs_error(directory_.file("a-file"));
  EXPECT_THAT(file, HasSubstr(path() + ":4:"));
  EXPECT_THAT(file, HasSubstr("is not a directory"));
}

// `guidance plugins needed` reads the names before any plugin is loaded (the quick start builds
// only those): from plugin tables, [sweep] axes (zip groups and inline tables included) and
// [record] metrics, plus the defaults a config leaves in place.
TEST_F(ConfigTest, PluginNamesAreReadFromTablesSweepAxesAndRecordMetricsBeforeLoading) {
  auto names = [&](const std::string& text) { return plugin_names(text); };
  using Names = std::vector<std::string>;
  // Every plugin named, none defaulted: the metric is given for guidance and the record.
  EXPECT_EQ(names(std::string(kValid) + "[record]\nmetrics = [\"rsa\", { plugin = \"cca\", name = \"c\" }]\n"),
            (Names{"cca", "linear-cka", "parity", "rnn", "rsa", "transformer", "untrained"}));
  // No [guide.init], [guidance.metric] or record.metrics: their defaults are needed.
  const std::string defaulted = R"([run]
name = "unit"
[dataset]
plugin = "fashion-mnist"
[target]
plugin = "mlp"
[guide]
plugin = "convnet"
[sweep]
"guide.plugin" = ["convnet", "vit"]
"record.metrics" = [["rbf-cka"], ["procrustes"]]
[sweep.zip.arm]
"guidance.enabled" = [false, true]
"dataset.plugin" = ["fashion-mnist", "cifar10"]
)";
  EXPECT_EQ(names(defaulted), (Names{"cifar10", "convnet", "fashion-mnist", kDefaultMetric, "mlp",
                                     "procrustes", "rbf-cka", kDefaultGuideInit, "vit"}));
  // A [sweep] zip axis that sets guide.init counts as given: no default init.
  Names swept = names(std::string(defaulted) +
                      "\"guide.init\" = [{ plugin = \"trained\", epochs = 2 }, { plugin = \"shuffled\" }]\n");
  EXPECT_EQ(std::count(swept.begin(), swept.end(), kDefaultGuideInit), 0);
  EXPECT_EQ(std::count(swept.begin(), swept.end(), "trained"), 1);
  EXPECT_EQ(std::count(swept.begin(), swept.end(), "shuffled"), 1);
  // Unguided with its record metrics given: nothing is added.
  EXPECT_EQ(names("[dataset]\nplugin = \"parity\"\n[target]\nplugin = \"rnn\"\n"
                  "[record]\nmetrics = [\"rsa\"]\n"),
            (Names{"parity", "rnn", "rsa"}));
}

// A value that a [sweep] axis replaces in every run is never used, so it is not listed: an axis
// at its key, an axis at a table above it, or an axis that --multirun makes of an override.
TEST_F(ConfigTest, PluginNamesLeaveOutValuesEverySweptRunReplaces) {
  using Names = std::vector<std::string>;
  const std::string base = R"([dataset]
plugin = "parity"
[target]
plugin = "rnn"
[guide]
plugin = "mlp"
[guide.init]
plugin = "trained"
[guidance.metric]
plugin = "rsa"
[record]
metrics = ["rsa"]
)";
  auto names = [&](const std::string& text, const ConfigOverrides& overrides = {}) {
    return plugin_names(text, overrides);
  };
  EXPECT_EQ(names(base), (Names{"mlp", "parity", "rnn", "rsa", "trained"}));
  EXPECT_EQ(names(base + "[sweep]\n\"guide.plugin\" = [\"transformer\", \"convnet\"]\n"),
            (Names{"convnet", "parity", "rnn", "rsa", "trained", "transformer"}));
  EXPECT_EQ(names(base + "[sweep]\n\"guide.init\" = [{ plugin = \"shuffled\" }]\n"),
            (Names{"mlp", "parity", "rnn", "rsa", "shuffled"}));
  EXPECT_EQ(names(base + "[sweep.zip.arm]\n\"target.plugin\" = [\"lstm\", \"gru\"]\n"
                         "\"run.seed\" = [0, 1]\n"),
            (Names{"gru", "lstm", "mlp", "parity", "rsa", "trained"}));
  // A zip group's name is not a key: a group called `guide` replaces only its axes' keys.
  EXPECT_EQ(names(base + "[sweep.zip.guide]\n\"guidance.enabled\" = [false, true]\n"
                         "\"run.seed\" = [0, 1]\n"),
            (Names{"mlp", "parity", "rnn", "rsa", "trained"}));
  EXPECT_EQ(names(base, ConfigOverrides{{"guide.plugin=transformer,convnet"}, true}),
            (Names{"convnet", "parity", "rnn", "rsa", "trained", "transformer"}));
  // A plain override replaces the value itself, so the file's value goes as well.
  EXPECT_EQ(names(base, ConfigOverrides{{"guide.plugin=convnet"}, false}),
            (Names{"convnet", "parity", "rnn", "rsa", "trained"}));
}

TEST_F(ConfigTest, UnknownKeySuggestsTheClosestValidKey) {
  std::string message = error_of(testing::replace_first(kValid, "learning_rate = 0.01", "learning_rat = 0.01"));
  EXPECT_THAT(message, HasSubstr(path() + ":26:1"));
  EXPECT_THAT(message, HasSubstr("unknown key 'train.learning_rat'"));
  EXPECT_THAT(message, HasSubstr("did you mean 'learning_rate'?"));
}

TEST_F(ConfigTest, UnknownPluginParameterSuggestsFromTheSchema) {
  auto schema = testing::built_plugins().find(PluginKind::Architecture, "rnn").info.params;
  ASSERT_FALSE(schema.empty());
  std::string key = schema.front().name;
  std::string typo = key.substr(0, key.size() - 1);
  std::string message = error_of(testing::replace_first(kValid, "plugin = \"rnn\"", "plugin = \"rnn\"\n" + typo + " = 1"));
  EXPECT_THAT(message, HasSubstr(path() + ":10:1"));
  EXPECT_THAT(message, HasSubstr("unknown key 'target." + typo + "'"));
  EXPECT_THAT(message, HasSubstr("did you mean '" + key + "'"));
}

TEST_F(ConfigTest, WrongTypeNamesKeyAndExpectedType) {
  std::string message = error_of(testing::replace_first(kValid, "batch_size = 32", "batch_size = \"32\""));
  EXPECT_THAT(message, HasSubstr(path() + ":27:"));
  EXPECT_THAT(message, HasSubstr("key 'train.batch_size': expected an integer, got a string"));
}

TEST_F(ConfigTest, OutOfRangeValueNamesTheRange) {
  std::string message = error_of(testing::replace_first(kValid, "batch_size = 32", "batch_size = 0"));
  EXPECT_THAT(message, HasSubstr("key 'train.batch_size': value 0 is out of range: must be between 1 and 1048576"));
  message = error_of(testing::replace_first(kValid, "alpha = 0.5", "alpha = -1.0"));
  EXPECT_THAT(message, HasSubstr(path() + ":18:"));
  EXPECT_THAT(message, HasSubstr("guidance.alpha"));
}

TEST_F(ConfigTest, ClosedSetsNameTheAllowedValues) {
  std::string message = error_of(testing::replace_first(kValid, "optimizer = \"sgd\"", "optimizer = \"adamm\""));
  EXPECT_THAT(message, HasSubstr(path() + ":25:"));
  EXPECT_THAT(message, HasSubstr("key 'train.optimizer': 'adamm' is not one of 'adam', 'adamw', "
                                 "'sgd' (did you mean 'adam'"));
  message = error_of(testing::replace_first(kValid, "batch_size = 32", "schedule = \"cosin\""));
  EXPECT_THAT(message, HasSubstr("key 'train.schedule': 'cosin' is not one of 'constant', 'step', "
                                 "'cosine' (did you mean 'cosine'?)"));
  message = error_of(testing::replace_first(kValid, "alpha = 0.5", "guide_input = \"noize\""));
  EXPECT_THAT(message, HasSubstr("key 'guidance.guide_input': 'noize' is not one of 'batch', "
                                 "'noise'"));
  message = error_of(testing::replace_first(kValid, "layer_map = \"uniform\"", "layer_map = \"explicit\""));
  EXPECT_THAT(message, HasSubstr("key 'guidance.layer_map': 'explicit' is not one of 'uniform'"));
}

TEST_F(ConfigTest, ClosedSetsAreStoredAsEnumsAndWrittenBackByName) {
  Config config = load(testing::replace_first(testing::replace_first(kValid, "batch_size = 32", "schedule = \"cosine\""),
                               "alpha = 0.5", "guide_input = \"noise\""));
  EXPECT_EQ(config.train.optimizer, Optimizer::Sgd);
  EXPECT_EQ(config.train.schedule, Schedule::Cosine);
  EXPECT_EQ(config.guidance.guide_input, GuideInput::Noise);
  EXPECT_EQ(config.guidance.layer_map, LayerMapKind::Uniform);
  std::string resolved = config.resolved_toml();
  EXPECT_THAT(resolved, HasSubstr("schedule = 'cosine'"));
  EXPECT_THAT(resolved, HasSubstr("guide_input = 'noise'"));
  EXPECT_THAT(resolved, HasSubstr("layer_map = 'uniform'"));
}

TEST_F(ConfigTest, TheResolvedConfigReadsBackToItself) {
  Config config = load(testing::replace_first(kValid, "layer_map = \"uniform\"",
                               "layer_map = [[\"block1.attention\", \"layer0\"]]\n"
                               "distillation = { weight = 0.5 }"));
  EXPECT_EQ(config.guidance.layer_map, LayerMapKind::Explicit);
  testing::write_file(directory_.file("resolved.toml"), config.resolved_toml());
  Config again = validate_config(ConfigDocument::parse(directory_.file("resolved.toml")),
                                 testing::built_plugins());
  EXPECT_EQ(again.resolved_toml(), config.resolved_toml());
  // Every declared key is written, with its default when the config leaves it out.
  toml::table resolved = toml::parse(config.resolved_toml());
  for (const auto& key : train_keys()) EXPECT_TRUE(resolved["train"][key.name()]) << key.name();
  for (const auto& key : run_keys()) EXPECT_TRUE(resolved["run"][key.name()]) << key.name();
  for (const auto& key : guidance_keys()) EXPECT_TRUE(resolved["guidance"][key.name()]) << key.name();
  for (const auto& key : record_keys()) EXPECT_TRUE(resolved["record"][key.name()]) << key.name();
  EXPECT_EQ(resolved["train"]["warmup_steps"].value<int64_t>(), TrainSection{}.warmup_steps);
}

TEST_F(ConfigTest, PluginParameterOutOfRangeOrWrongChoiceIsRefused) {
  auto schema = testing::built_plugins().find(PluginKind::GuideInit, "untrained").info.params;
  std::string message = error_of(testing::replace_first(kValid, "plugin = \"untrained\"", "plugin = \"untrained\"\nscheme = \"kaiming\""));
  EXPECT_THAT(message, HasSubstr("key 'guide.init.scheme': 'kaiming' is not one of"));
  EXPECT_THAT(message, HasSubstr("did you mean 'kaiming-normal'?"));
  message = error_of(testing::replace_first(kValid, "plugin = \"untrained\"\n", "plugin = \"trained\"\nepochs = 0\n"));
  EXPECT_THAT(message, HasSubstr("key 'guide.init.epochs': value 0 is out of range"));
  EXPECT_THAT(message, HasSubstr("guide-init plugin 'trained'"));
}

TEST_F(ConfigTest, MissingRequiredKeyOrTableIsNamed) {
  std::string message = error_of(testing::replace_first(kValid, "name = \"unit\"\n", ""));
  EXPECT_THAT(message, HasSubstr(path() + ":1:1"));
  EXPECT_THAT(message, HasSubstr("missing required key 'run.name'"));
  message = error_of(testing::replace_first(kValid, "[dataset]\nplugin = \"parity\"\n", ""));
  EXPECT_THAT(message, HasSubstr("missing required table [dataset]"));
  message = error_of(testing::replace_first(kValid, "plugin = \"untrained\"", "plugin = \"checkpoint\""));
  EXPECT_THAT(message, HasSubstr("key 'guide.init.path': required by guide-init plugin 'checkpoint'"));
}

TEST_F(ConfigTest, UnknownPluginNameSuggestsTheClosest) {
  std::string message = error_of(testing::replace_first(kValid, "plugin = \"linear-cka\"", "plugin = \"linear-ck\""));
  EXPECT_THAT(message, HasSubstr(path() + ":22:"));
  EXPECT_THAT(message, HasSubstr("no metric plugin named 'linear-ck' (did you mean 'linear-cka'"));
}

TEST_F(ConfigTest, GuidanceWithoutGuideIsRefusedUnlessDisabled) {
  std::string unguided = testing::replace_first(kValid, "[guide]\nplugin = \"transformer\"\n\n[guide.init]\nplugin = \"untrained\"\n", "");
  EXPECT_THAT(error_of(unguided), HasSubstr("needs a [guide] table"));
  Config config = load(testing::replace_first(unguided, "alpha = 0.5", "enabled = false"));
  EXPECT_FALSE(config.guided());
}

TEST_F(ConfigTest, MissingFileIsNamed) {
  try {
    ConfigDocument::parse(directory_.file("absent.toml"));
    FAIL();
  } catch (const ConfigError& error) {
    EXPECT_THAT(error.what(), AllOf(HasSubstr("cannot read config file "),
                                    HasSubstr("absent.toml: no such file")));
  }
}

TEST(ConfigCli, CheckOnAMisspelledKeyExits2NamingTheLineAndSuggestion) {
  testing::TemporaryDirectory directory;
  std::string path = directory.file("typo.toml");
  testing::write_file(path, "[run]\nname = \"typo\"\n[dataset]\nplugin = \"parity\"\n[target]\nplugin = \"rnn\"\n[train]\nbatch_sise = 8\n");
  testing::CommandResult result = testing::run_cli("check '" + path + "'");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr(path + ":8:1: unknown key 'train.batch_sise' (did you mean 'batch_size'?)"));
  EXPECT_TRUE(result.out.empty());
}

TEST(ConfigCli, UsageErrorsExit2AndVersionExits0) {
  EXPECT_EQ(testing::run_cli("frobnicate").exit_code, 2);
  EXPECT_THAT(testing::run_cli("chek x").err, HasSubstr("did you mean 'check'?"));
  EXPECT_EQ(testing::run_cli("run").exit_code, 2);
  testing::CommandResult version = testing::run_cli("--version");
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_THAT(version.out, HasSubstr("plugin ABI"));
  for (const char* command : {"plugins --help", "check --help", "run --help", "--help"}) {
    testing::CommandResult help = testing::run_cli(command);
    EXPECT_EQ(help.exit_code, 0) << command;
    EXPECT_THAT(help.out, HasSubstr("usage: guidance")) << command;
  }
}

}  // namespace
}  // namespace guidance
