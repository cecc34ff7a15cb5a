// The drop-in story end to end, for the example plugin of each kind in plugins/example/: install
// the plugin API, build each example out of tree against it, drop the libraries into a fresh
// folder, check each with `guidance plugins test`, and use all four from the unchanged host in the
// short guided run docs/plugins.md shows. docs/plugins.md also quotes each example's signatures;
// the second test keeps those quotes true to the sources.
#include <algorithm>
#include <array>
#include <filesystem>
#include <future>
#include <regex>
#include <sstream>
#include <vector>

#include "tests/host/plugins/PluginTestSupport.h"

namespace guidance {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

/// One example: its folder plugins/example/<folder>/ builds libguidance-example-<folder>.so, which
/// holds one plugin named example-<folder>.
struct Example {
  const char* folder;
  const char* source;  ///< the file docs/plugins.md quotes
  const char* kind;
};

constexpr std::array<Example, 4> kExamples{{{"perceptron", "Perceptron.cpp", "architecture"},
                                            {"cosine", "Cosine.cpp", "metric"},
                                            {"xor-blobs", "XorBlobs.cpp", "dataset"},
                                            {"scaled", "Scaled.cpp", "guide-init"}}};

std::string plugin_name(const Example& example) { return std::string("example-") + example.folder; }

std::string library_name(const Example& example) {
  return "libguidance-" + plugin_name(example) + ".so";
}

std::string source_path(const Example& example) {
  return std::string("plugins/example/") + example.folder + "/" + example.source;
}

/// Configures and builds one example as its own project against the API installed at `prefix`,
/// as the docs' command lines do. When the tree's build uses ccache so does this one, with the
/// scratch folder as its base directory: a second run of the test then reuses the compiled files.
testing::CommandResult build_example(const Example& example, const std::string& prefix,
                                     const std::string& scratch) {
  const std::string cmake = CMAKE_COMMAND;
  const std::string ccache = CCACHE_PROGRAM;
  const std::string launcher =
      ccache.empty() ? ""
                     : " '-DCMAKE_CXX_COMPILER_LAUNCHER=/usr/bin/env;CCACHE_BASEDIR=" + scratch +
                           ";CCACHE_SLOPPINESS=include_file_mtime,include_file_ctime;" + ccache +
                           "'";
  const std::string build = scratch + "/build-" + example.folder;
  return testing::run_command("'" + cmake + "' -S '" + testing::source_directory() +
                              "/plugins/example/" + example.folder + "' -B '" + build +
                              "' -DCMAKE_PREFIX_PATH='" + prefix + "'" + launcher + " && '" +
                              cmake + "' --build '" + build + "'");
}

/// @return the lines of the ```cpp block of `guide` whose first line is `// <path>`, that line
/// and blank lines left out; none when there is no such block.
std::vector<std::string> quoted_lines(const std::string& guide, const std::string& path) {
  const std::string opening = "```cpp\n// " + path + "\n";
  const size_t begin = guide.find(opening);
  if (begin == std::string::npos) return {};
  const size_t body = begin + opening.size();
  std::istringstream block(guide.substr(body, guide.find("```", body) - body));
  std::vector<std::string> lines;
  for (std::string line; std::getline(block, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

/// @return whether `quoted` quotes the source line `line`: the same text, or a declaration `X;`
/// of what the source defines as `X {...` or `X : ...`.
bool quotes(const std::string& quoted, const std::string& line) {
  if (quoted == line) return true;
  const std::string head = quoted.substr(0, quoted.size() - 1) + " ";
  return quoted.back() == ';' && line.compare(0, head.size(), head) == 0;
}

TEST(OutOfTreePlugin, EveryExampleBuildsAgainstTheInstalledApiAndIsUsedByTheHost) {
  testing::TemporaryDirectory work;
  const std::string cmake = CMAKE_COMMAND;
  const std::string prefix = work.file("prefix");
  testing::CommandResult install = testing::run_command(
      "'" + cmake + "' --install '" + GUIDANCE_BINARY_DIR + "' --prefix '" + prefix + "'");
  ASSERT_EQ(install.exit_code, 0) << install.out << install.err;
  ASSERT_TRUE(fs::exists(prefix + "/include/guidance/api/PluginApi.h"));

  // Each example is a project of its own; a LibTorch translation unit takes half a minute, so
  // they build side by side.
  std::vector<std::future<testing::CommandResult>> builds;
  for (const Example& example : kExamples) {
    builds.push_back(std::async(std::launch::async, build_example, example, prefix, work.path()));
  }
  const std::string drop = work.file("drop");
  fs::create_directories(drop);
  for (size_t i = 0; i < kExamples.size(); ++i) {
    testing::CommandResult built = builds[i].get();
    ASSERT_EQ(built.exit_code, 0) << kExamples[i].folder << ":\n" << built.out << built.err;
    const std::string library = library_name(kExamples[i]);
    fs::copy_file(work.file(std::string("build-") + kExamples[i].folder + "/" + library),
                  drop + "/" + library);
  }
  // No build type given: the installed package makes it Release (the docs' command line).
  EXPECT_THAT(testing::read_file(work.file("build-perceptron/CMakeCache.txt")),
              HasSubstr("CMAKE_BUILD_TYPE:STRING=Release"));

  const std::string cache = work.file("cache");
  auto host = [&](const std::string& arguments) {
    return testing::run_cli_with_plugins(drop, arguments, cache);
  };
  testing::CommandResult listed = host("plugins");
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  for (const Example& example : kExamples) {
    SCOPED_TRACE(example.folder);
    EXPECT_THAT(listed.out, HasSubstr(library_name(example)));
    // The contract checks the shipped plugins pass, on the library file itself.
    testing::CommandResult contract =
        host("plugins test '" + drop + "/" + library_name(example) + "'");
    EXPECT_EQ(contract.exit_code, 0) << contract.out << contract.err;
    const std::string plugin = std::string(example.kind) + " " + plugin_name(example);
    EXPECT_THAT(contract.out, HasSubstr("PASS  " + plugin + ": "));
    EXPECT_THAT(contract.out, Not(HasSubstr("FAIL")));
  }
  testing::CommandResult described = host("plugins describe example-cosine");
  ASSERT_EQ(described.exit_code, 0) << described.err;
  EXPECT_THAT(described.out, HasSubstr("centred (boolean"));

  // The guide's config, as it stands: all four examples in one short guided run.
  const std::string guide = testing::read_file(testing::source_directory() + "/docs/plugins.md");
  const size_t marker = guide.find("plugin = \"example-xor-blobs\"");
  ASSERT_NE(marker, std::string::npos) << "docs/plugins.md shows no config using the examples";
  const size_t begin = guide.rfind("```toml\n", marker) + 8;
  const std::string config = work.file("config.toml");
  testing::write_file(config, guide.substr(begin, guide.find("```", begin) - begin));

  // Without the folder the host knows none of them, and says how to load a plugin built elsewhere.
  testing::CommandResult unknown = testing::run_cli("check '" + config + "'");
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_THAT(unknown.err, HasSubstr("no dataset plugin named 'example-xor-blobs'"));
  EXPECT_THAT(unknown.err, HasSubstr("--plugin-dir DIR"));

  testing::CommandResult checked = host("check '" + config + "'");
  ASSERT_EQ(checked.exit_code, 0) << checked.err;
  EXPECT_THAT(checked.out, HasSubstr("example-xor-blobs (1024 train / 256 validation / 256 test)"));
  EXPECT_THAT(checked.out, HasSubstr("target example-perceptron (2 taps, 2 in tap_set 'modules')"));
  EXPECT_THAT(checked.out, HasSubstr("guide mlp [example-scaled] via example-cosine"));

  testing::CommandResult ran = host("run --quiet '" + config + "'");
  ASSERT_EQ(ran.exit_code, 0) << ran.err;
  const std::string record = work.file("results/examples/run.h5");
  // The record names the library each plugin came from...
  testing::CommandResult provenance = host("analyze export '" + record + "' provenance");
  ASSERT_EQ(provenance.exit_code, 0) << provenance.err;
  for (const Example& example : kExamples) {
    EXPECT_THAT(provenance.out, HasSubstr(std::string("plugin ") + example.kind + "," +
                                          plugin_name(example) + " 1.0.0 (" + drop + "/" +
                                          library_name(example) + ")"));
  }
  // ...and holds the similarity matrices the example metric computed between the networks' taps.
  testing::CommandResult similarity =
      host("analyze export '" + record + "' similarity/example-cosine/guide_target");
  ASSERT_EQ(similarity.exit_code, 0) << similarity.err;
  EXPECT_THAT(similarity.out, HasSubstr("guide \\ target,hidden,logits\n"));

  // The architecture refuses a token task; the host reports it as a config error at its key.
  testing::write_file(config, R"([run]
name = "drop-in"
[dataset]
plugin = "parity"
[target]
plugin = "example-perceptron"
hidden = 16
)");
  testing::CommandResult refused = host("check '" + config + "'");
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_THAT(refused.err, HasSubstr("example-perceptron needs image inputs"));
  EXPECT_THAT(refused.err, HasSubstr(config + ":6:"));
}

// docs/plugins.md quotes each example's classes, bodies left out, in a block headed by the
// source's path. Each quoted line stands in the source, in the same order, and every override in
// the source is quoted: a changed signature on either side fails here.
TEST(OutOfTreePlugin, ThePluginGuideQuotesEachExamplesSignaturesAsTheSourceHasThem) {
  const std::string guide = testing::read_file(testing::source_directory() + "/docs/plugins.md");
  const std::regex override_line(R"(^(.* override)(;| \{.*)$)");
  for (const Example& example : kExamples) {
    const std::string path = source_path(example);
    SCOPED_TRACE(path);
    const std::vector<std::string> quoted = quoted_lines(guide, path);
    ASSERT_FALSE(quoted.empty()) << "docs/plugins.md has no ```cpp block headed // " << path;
    std::vector<std::string> source;
    std::istringstream text(testing::read_file(testing::source_directory() + "/" + path));
    for (std::string line; std::getline(text, line);) source.push_back(line);

    auto at = source.begin();
    for (const std::string& line : quoted) {
      auto quoting = [&](const std::string& own) { return quotes(line, own); };
      at = std::find_if(at, source.end(), quoting);
      ASSERT_NE(at, source.end()) << "quoted but not in the source (in this order): " << line;
      ++at;
    }
    std::smatch match;
    for (const std::string& line : source) {
      if (!std::regex_match(line, match, override_line)) continue;
      EXPECT_THAT(quoted, ::testing::Contains(match[1].str() + ";"))
          << "the source overrides, the guide does not quote: " << line;
    }
  }
}

}  // namespace
}  // namespace guidance
