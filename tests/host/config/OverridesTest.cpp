// Command-line overrides (host/config/Overrides.h): `key=value` is typed and checked like the
// file and named in errors; `-m key=a,b` makes a sweep axis; every sweep run applies them again.
#include "host/config/Overrides.h"

#include "host/common/Errors.h"
#include "host/config/TomlReader.h"
#include "host/sweep/Sweep.h"
#include "tests/support/TestSupport.h"

namespace guidance {
namespace {

using ::testing::HasSubstr;

constexpr const char* kBase = R"([run]
name = "grid"
seed = 0
[train]
epochs = 3
optimizer = "adam"
[sweep]
"run.seed" = [0, 1]
"train.learning_rate" = [0.1, 0.01]
[sweep.zip.guide]
"guidance.enabled" = [false, true]
)";

ConfigDocument document_of(const testing::TemporaryDirectory& directory,
                           std::vector<std::string> assignments, bool multirun = false,
                           const std::string& text = kBase) {
  std::string path = directory.file("base.toml");
  testing::write_file(path, text);
  return ConfigDocument::parse(path, ConfigOverrides{std::move(assignments), multirun});
}

std::string error_of(const testing::TemporaryDirectory& directory,
                     std::vector<std::string> assignments, bool multirun = false) {
  try {
    expand_sweep(document_of(directory, std::move(assignments), multirun));
  } catch (const ConfigError& error) {
    return error.what();
  }
  return "";
}

TEST(Overrides, ValuesAreTomlOrBareStringsAndReachEveryRun) {
  testing::TemporaryDirectory directory;
  Sweep sweep(document_of(directory, {"train.epochs=7", "train.optimizer=sgd",
                                      "guide.init={ plugin = \"untrained\", gain = 0.5 }",
                                      "record.metrics=[\"rsa\", \"linear-cka\"]",
                                      "run.note=\"a,b\""}));
  ASSERT_EQ(sweep.size(), 8u);
  for (size_t i = 0; i < sweep.size(); ++i) {  // each run re-reads the file: applied again
    SweepRun run = sweep.run(i);
    const toml::table& root = *run.document.root;
    EXPECT_EQ(root.at_path("train.epochs").value<int64_t>(), 7);
    EXPECT_EQ(root.at_path("train.optimizer").value<std::string>(), "sgd");
    EXPECT_EQ(root.at_path("guide.init.plugin").value<std::string>(), "untrained");  // created
    EXPECT_EQ(root.at_path("guide.init.gain").value<double>(), 0.5);
    EXPECT_EQ(root.at_path("record.metrics")[1].value<std::string>(), "linear-cka");
    EXPECT_EQ(root.at_path("run.note").value<std::string>(), "a,b");  // quoted: one string
  }
}

TEST(Overrides, ValuesFromTheCommandLineAreNamedByTheirOverrideInLaterErrors) {
  testing::TemporaryDirectory directory;
  SweepRun run = Sweep(document_of(directory, {"train.epochs=x"})).run(0);
  const toml::node* epochs = run.document.root->at_path("train.epochs").node();
  ASSERT_NE(epochs, nullptr);
  EXPECT_EQ(location_of(run.document.path, *epochs), "command-line override 'train.epochs=x'");
  const toml::node* optimizer = run.document.root->at_path("train.optimizer").node();
  EXPECT_EQ(location_of(run.document.path, *optimizer), run.document.path + ":6:13");
}

TEST(Overrides, AKeySetOnTheCommandLineNoLongerVaries) {
  testing::TemporaryDirectory directory;
  Sweep sweep(document_of(directory, {"run.seed=5"}));
  ASSERT_EQ(sweep.size(), 4u);
  EXPECT_EQ(sweep.run(3).document.root->at_path("run.seed").value<int64_t>(), 5);
}

TEST(Overrides, MultirunListsBecomeAxesCrossedAfterTheFilesInTheOrderGiven) {
  testing::TemporaryDirectory directory;
  Sweep sweep(document_of(directory, {"train.optimizer=sgd,adam", "train.epochs=1,2,4"}, true));
  ASSERT_EQ(sweep.size(), 2u * 2u * 2u * 2u * 3u);
  EXPECT_EQ(sweep.name(0), "grid/seed=0,learning_rate=0.1,enabled=false,optimizer=sgd,epochs=1");
  EXPECT_EQ(sweep.name(1), "grid/seed=0,learning_rate=0.1,enabled=false,optimizer=sgd,epochs=2");
  SweepRun last = sweep.run(sweep.size() - 1);
  EXPECT_EQ(last.document.root->at_path("train.optimizer").value<std::string>(), "adam");
  EXPECT_EQ(last.document.root->at_path("train.epochs").value<int64_t>(), 4);
  // A multirun list replaces the file's own axis of that key; one value stays a plain override.
  Sweep seeds(document_of(directory, {"run.seed=7,8,9", "train.epochs=2"}, true));
  EXPECT_EQ(seeds.size(), 2u * 2u * 3u);
  EXPECT_EQ(seeds.run(0).document.root->at_path("train.epochs").value<int64_t>(), 2);
  EXPECT_EQ(seeds.overrides().arguments(),
            (std::vector<std::string>{"--multirun", "run.seed=7,8,9", "train.epochs=2"}));
}

TEST(Overrides, MistakesAreRefusedNamingTheOverride) {
  testing::TemporaryDirectory directory;
  EXPECT_THAT(error_of(directory, {"epochs"}),
              HasSubstr("command-line override 'epochs': expected key=value"));
  EXPECT_THAT(error_of(directory, {"train..epochs=1"}),
              HasSubstr("'train..epochs' is not a dotted key of bare TOML keys"));
  EXPECT_THAT(error_of(directory, {"train.optimizer=sgd,adam"}),
              HasSubstr("command-line override 'train.optimizer=sgd,adam': a list of values "
                        "sweeps the key: add --multirun (-m)"));
  EXPECT_THAT(error_of(directory, {"guidance.enabled=true"}),
              HasSubstr("'guidance.enabled' varies in the sweep's zip group 'guide'"));
  EXPECT_THAT(error_of(directory, {"sweep.x=1"}), HasSubstr("a sweep is changed through its keys"));
  EXPECT_THAT(error_of(directory, {"train.epochs.x=1"}),
              HasSubstr("'train.epochs' holds a value, not a table"));
  EXPECT_THAT(error_of(directory, {"train.optimizer=\"sgd"}),
              HasSubstr("the value '\"sgd' is not TOML"));
  // Without --multirun, a TOML array with commas is one value.
  EXPECT_EQ(error_of(directory, {"record.metrics=[\"rsa\",\"cca\"]"}), "");
}

}  // namespace
}  // namespace guidance
