// The command-line grammar every command shares (host/common/CommandLine.h over CLI11), on a
// small tree of its own and on `guidance`'s, in process.
#include <CLI/CLI.hpp>

#include <regex>
#include <sstream>

#include "analysis/Table.h"
#include "host/common/CommandLine.h"
#include "host/common/Errors.h"
#include "host/config/ConfigKeys.h"
#include "host/recording/RecordSchema.h"
#include "tests/host/training/RunTestSupport.h"
#include "tests/support/GuidanceInProcess.h"

namespace guidance {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::run_guidance_here;

/// A root with one command `go` taking --count N (at least 1) and a flag, as the workbench's
/// programs declare theirs.
struct Tree {
  CLI::App root{"a test tree", "tool"};
  int count = 0;
  bool loud = false;
  int ran = 0;

  Tree() {
    use_workbench_conventions(root);
    root.require_subcommand(1);
    CLI::App& go = add_command(root, "go", "count", [this] {
      ++ran;
      return 7;
    });
    go.add_option("--count", count, "how many")->check(at_least(1));
    go.add_flag("--loud", loud, "shout");
  }

  int run(const std::vector<std::string>& args) {
    std::ostringstream out;
    return run_command_line(root, args, out);
  }
};

std::string usage_error_of(const std::vector<std::string>& args) {
  Tree tree;
  try {
    tree.run(args);
  } catch (const UsageError& error) {
    EXPECT_EQ(tree.ran, 0) << "the action must not run after a usage error";
    return error.what();
  }
  ADD_FAILURE() << "no usage error";
  return "";
}

TEST(CommandLine, OptionsTakeTheirValueAfterASpaceOrAnEqualsSign) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"go", "--count=3"}, {"go", "--count", "3"}, {"go", "--count", "3", "--loud"}}) {
    Tree tree;
    EXPECT_EQ(tree.run(args), 7);
    EXPECT_EQ(tree.ran, 1);
    EXPECT_EQ(tree.count, 3);
  }
}

TEST(CommandLine, UsageErrorsNameTheCommandTheClosestNameAndItsHelp) {
  std::string option = usage_error_of({"go", "--cuont", "3"});
  EXPECT_THAT(option, HasSubstr("tool go: unknown option '--cuont' (did you mean '--count'?)"));
  EXPECT_THAT(option, HasSubstr("(see 'tool go --help')"));
  EXPECT_THAT(usage_error_of({"go", "--cuont=3"}), HasSubstr("unknown option '--cuont'"));
  EXPECT_THAT(usage_error_of({"og"}), HasSubstr("unknown command 'og' (did you mean 'go'?)"));
  EXPECT_THAT(usage_error_of({"go", "--count", "0"}), HasSubstr("must be at least 1, got '0'"));
  EXPECT_THAT(usage_error_of({"go", "--count", "many"}), HasSubstr("expects an integer, got 'many'"));
  EXPECT_THAT(usage_error_of({"go", "extra"}), HasSubstr("unexpected argument 'extra'"));
  EXPECT_THAT(usage_error_of({}), HasSubstr("a command is required: 'go'"));
}

TEST(CommandLine, HelpIsPrintedInsteadOfRunning) {
  Tree tree;
  std::ostringstream out;
  EXPECT_EQ(run_command_line(tree.root, {"go", "--help"}, out), 0);
  EXPECT_EQ(tree.ran, 0);
  EXPECT_THAT(out.str(), HasSubstr("usage: tool go [OPTIONS]"));
  EXPECT_THAT(out.str(), HasSubstr("--count"));
}

class GuidanceCommandLine : public ::testing::Test {
 protected:
  testing::TemporaryDirectory directory_;
  std::string config_ = [this] {
    std::string path = directory_.file("parity.toml");
    testing::write_file(path, testing::parity_config(directory_.file("results")));
    return path;
  }();
};

TEST_F(GuidanceCommandLine, RunTakesThreadsAfterASpaceOrAnEqualsSign) {
  for (const char* threads : {"--threads=2", "--threads"}) {
    std::vector<std::string> args = {"run", config_, threads};
    if (std::string(threads) == "--threads") args.push_back("2");
    args.push_back("--dry-run");
    testing::CommandResult listed = run_guidance_here(args);
    EXPECT_EQ(listed.exit_code, 0) << threads << ": " << listed.err;
    EXPECT_THAT(listed.out, HasSubstr("parity-small")) << threads;
  }
  testing::CommandResult zero = run_guidance_here({"run", config_, "--threads=0"});
  EXPECT_EQ(zero.exit_code, 2);
  EXPECT_THAT(zero.err, HasSubstr("--threads: must be at least 1, got '0'"));
}

TEST_F(GuidanceCommandLine, PluginDirIsGlobalInEitherSpellingBeforeOrAfterTheCommand) {
  // A folder that does not exist is refused at once: proof the option reached the loader.
  const std::string missing = directory_.file("no-plugins-here");
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--plugin-dir=" + missing, "plugins"},
        {"--plugin-dir", missing, "plugins"},
        {"plugins", "--plugin-dir", missing},
        {"plugins", "describe", "linear-cka", "--plugin-dir=" + missing},
        {"check", "--plugin-dir", missing, config_}}) {
    testing::CommandResult result = run_guidance_here(args);
    EXPECT_EQ(result.exit_code, 2) << args.front();
    EXPECT_THAT(result.err, HasSubstr("'" + missing + "' does not exist")) << args.front();
  }
}

// `guidance keys` prints the declarations configs are read with, so a new key shows up there.
TEST_F(GuidanceCommandLine, KeysListsEveryDeclaredKeyOfASection) {
  testing::CommandResult train = run_guidance_here({"keys", "train"});
  ASSERT_EQ(train.exit_code, 0) << train.err;
  for (const auto& key : train_keys()) {
    EXPECT_THAT(train.out, HasSubstr("\n  " + key.name() + " (")) << key.name();
  }
  EXPECT_THAT(train.out, HasSubstr("optimizer (string, \"adam\", \"adamw\", \"sgd\") = \"adam\""));
  EXPECT_THAT(train.out, ::testing::Not(HasSubstr("[record]")));
  testing::CommandResult typo = run_guidance_here({"keys", "trian"});
  EXPECT_EQ(typo.exit_code, 2);
  EXPECT_THAT(typo.err, HasSubstr("no config section 'trian' (did you mean 'train'?)"));
}

// `guidance schema` prints RecordSchema.h's table of names, so a name added there shows up in it
// (and, through the committed JSON, in the Python reader).
TEST_F(GuidanceCommandLine, SchemaListsEveryNameOfTheRecordSchema) {
  testing::CommandResult json = run_guidance_here({"schema", "--json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  testing::CommandResult text = run_guidance_here({"schema"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_THAT(json.out, HasSubstr("\"format_version\": " +
                                  std::to_string(record_schema::kFormatVersion) + ",\n"));
  for (const record_schema::NamedObject& object : record_schema::kNamedObjects) {
    EXPECT_THAT(json.out, HasSubstr("\"" + std::string(object.key) + "\": {\"name\": \"" +
                                    object.name + "\""))
        << object.key;
    EXPECT_THAT(text.out, HasSubstr(object.name)) << object.key;
  }
  for (const auto& list : record_schema::kLayoutLists) {
    EXPECT_THAT(json.out, HasSubstr("\"" + std::string(list.name) + "\"")) << list.name;
  }
  EXPECT_THAT(json.out, HasSubstr("{\"name\": \"learning_rate\", \"type\": \"float64\"}"));
}

TEST_F(GuidanceCommandLine, UnknownOptionsAndCommandsExit2WithTheClosestName) {
  testing::CommandResult option = run_guidance_here({"run", config_, "--thread", "2"});
  EXPECT_EQ(option.exit_code, 2);
  EXPECT_THAT(option.err, HasSubstr("guidance run: unknown option '--thread' (did you mean '--threads'?)"));
  EXPECT_THAT(option.err, HasSubstr("(see 'guidance run --help')"));
  testing::CommandResult command = run_guidance_here({"chek", config_});
  EXPECT_EQ(command.exit_code, 2);
  EXPECT_THAT(command.err, HasSubstr("unknown command 'chek' (did you mean 'check'?)"));
  testing::CommandResult nested = run_guidance_here({"analyze", "reprt", "x.h5"});
  EXPECT_EQ(nested.exit_code, 2);
  EXPECT_THAT(nested.err, HasSubstr("guidance analyze: unknown command 'reprt' (did you mean 'report'?)"));
  testing::CommandResult excluded = run_guidance_here({"run", config_, "--resume", "--restart"});
  EXPECT_EQ(excluded.exit_code, 2);
  EXPECT_THAT(excluded.err, HasSubstr("--resume excludes --restart"));
}

// `guidance plugins` wraps its summaries to $COLUMNS, under each name when the columns leave them
// too little room, losing no word; piped without $COLUMNS each plugin keeps its one line.
TEST_F(GuidanceCommandLine, PluginsListFitsTheWidthAndPipesKeepOneLinePerPlugin) {
  auto plugins = [](const std::string& environment) {
    return testing::run_command("env " + environment + " '" + testing::cli_path() + "' plugins");
  };
  auto words = [](const std::string& text) {
    std::vector<std::string> found;
    std::istringstream stream(text);
    for (std::string word; stream >> word;) {
      if (word != "SUMMARY") found.push_back(word);
    }
    return found;
  };
  testing::CommandResult narrow = plugins("COLUMNS=80");
  ASSERT_EQ(narrow.exit_code, 0) << narrow.err;
  testing::CommandResult piped = plugins("-u COLUMNS");
  ASSERT_EQ(piped.exit_code, 0) << piped.err;
  EXPECT_EQ(words(narrow.out), words(piped.out));
  size_t piped_lines = 0, widest_piped = 0;
  std::istringstream piped_text(piped.out);
  for (std::string line; std::getline(piped_text, line); ++piped_lines)
    widest_piped = std::max(widest_piped, analysis::text_width(line));
  EXPECT_GT(widest_piped, 80u);  // else COLUMNS=80 proves nothing
  size_t narrow_lines = 0;
  std::istringstream narrow_text(narrow.out);
  for (std::string line; std::getline(narrow_text, line); ++narrow_lines)
    EXPECT_LE(analysis::text_width(line), 80u) << line;
  EXPECT_GT(narrow_lines, piped_lines);
  EXPECT_THAT(narrow.out, HasSubstr("\narchitecture  mlp "));
}

TEST_F(GuidanceCommandLine, EveryCommandsHelpExits0AndListsItsOptions) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> helps = {
      {{"--help"}, "--plugin-dir"},
      {{"plugins", "--help"}, "describe"},
      {{"plugins", "describe", "--help"}, "NAME"},
      {{"check", "--help"}, "--verbose"},
      {{"run", "--help"}, "--emit-slurm"},
      {{"analyze", "--help"}, "consistency"},
      {{"analyze", "report", "--help"}, "--out"},
      {{"analyze", "compare", "--help"}, "--metric"},
      {{"analyze", "consistency", "--help"}, "--side-b"},
      {{"analyze", "export", "--help"}, "--csv"},
      {{"summarize", "--help"}, "--baseline"},
      {{"schema", "--help"}, "--json"},
  };
  for (const auto& [args, option] : helps) {
    std::string command = "guidance";
    for (const auto& arg : args) command += arg == "--help" ? "" : " " + arg;
    testing::CommandResult help = run_guidance_here(args);
    EXPECT_EQ(help.exit_code, 0) << command;
    EXPECT_THAT(help.out, HasSubstr("usage: " + command)) << command;
    EXPECT_THAT(help.out, HasSubstr(option)) << command;
  }
  testing::CommandResult bare = run_guidance_here({});
  EXPECT_EQ(bare.exit_code, 2);
  EXPECT_THAT(bare.out, HasSubstr("usage: guidance"));
}

TEST_F(GuidanceCommandLine, CheckVerboseListsEachNetworksTapsWithShapesAndTheLayerPairs) {
  testing::CommandResult plain = run_guidance_here({"check", config_});
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_THAT(plain.out, Not(HasSubstr("taps:")));

  testing::CommandResult verbose = run_guidance_here({"check", "--verbose", config_});
  ASSERT_EQ(verbose.exit_code, 0) << verbose.err;
  EXPECT_THAT(verbose.out, HasSubstr("shapes on a batch of 2 training examples"));
  EXPECT_THAT(verbose.out, HasSubstr("target rnn taps ("));
  EXPECT_THAT(verbose.out, HasSubstr("guide transformer taps ("));
  // Each tap with its sets; token tasks give sequence taps: [batch 2, length, features].
  EXPECT_TRUE(std::regex_search(
      verbose.out, std::regex(R"(\n      \S+ +modules,blocks +sequence +\[2, \d+, \d+\]\n)")))
      << verbose.out;
  std::smatch pairs;
  ASSERT_TRUE(std::regex_search(plain.out, pairs, std::regex(R"(on (\d+) pairs)"))) << plain.out;
  const size_t title = verbose.out.find("layer pairs (guide tap -> target tap), uniform_map");
  ASSERT_NE(title, std::string::npos) << verbose.out;
  std::string listed = verbose.out.substr(title);
  const std::regex pair_line(R"(\n      \S+ -> \S+)");
  std::ptrdiff_t pair_lines = std::distance(
      std::sregex_iterator(listed.begin(), listed.end(), pair_line), std::sregex_iterator());
  EXPECT_EQ(pair_lines, std::stoi(pairs[1])) << verbose.out;
}

}  // namespace
}  // namespace guidance
