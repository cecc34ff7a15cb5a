#include <algorithm>
#include <sstream>

#include "host/common/Errors.h"
#include "host/config/ConfigKeys.h"
#include "tests/support/TestSupport.h"

namespace guidance {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// docs/config.md lists each section's keys in a table right below the heading `## [section]`:
// a header row `| key | type | default | allowed | meaning |`, a separator row, then one row per
// key in declaration order (see the paragraph on key tables at the top of docs/config.md).
constexpr const char* kHeader = "| key | type | default | allowed | meaning |";

std::vector<std::string> cells_of(const std::string& row) {
  std::vector<std::string> cells;
  std::stringstream parts(row.substr(1));
  for (std::string cell; std::getline(parts, cell, '|');) {
    size_t begin = cell.find_first_not_of(' ');
    size_t end = cell.find_last_not_of(' ');
    cells.push_back(begin == std::string::npos ? "" : cell.substr(begin, end - begin + 1));
  }
  return cells;
}

std::string row_of(const KeyReference& key) {
  return "| " + key.key + " | " + key.type + " | " + key.default_value + " | " + key.allowed +
         " | " + key.doc + " |";
}

/// @return the rows of the key table under `## <table>` in `markdown` (none when it has none).
std::vector<std::vector<std::string>> documented_rows(const std::string& markdown,
                                                      const std::string& table) {
  std::stringstream lines(markdown);
  std::string line;
  while (std::getline(lines, line) && line != "## " + table) {
  }
  while (std::getline(lines, line) && line != kHeader) {
    if (line.rfind("## ", 0) == 0) return {};
  }
  std::vector<std::vector<std::string>> rows;
  std::getline(lines, line);  // the separator row
  while (std::getline(lines, line) && !line.empty() && line.front() == '|') {
    rows.push_back(cells_of(line));
  }
  return rows;
}

/// @return every way the key tables of `markdown` differ from the declarations, one line each.
std::vector<std::string> differences(const std::string& markdown) {
  std::vector<std::string> found;
  for (const auto& section : config_reference()) {
    const size_t before = found.size();
    const auto rows = documented_rows(markdown, section.table);
    if (rows.empty()) {
      found.push_back(section.table + ": no key table under '## " + section.table + "'");
      continue;
    }
    std::vector<std::string> documented, declared;
    for (const auto& row : rows) documented.push_back(row.front());
    for (const auto& key : section.keys) declared.push_back(key.key);
    for (const auto& key : section.keys) {
      auto at = std::find(documented.begin(), documented.end(), key.key);
      if (at == documented.end()) {
        found.push_back(section.table + " " + key.key +
                        ": declared but not documented; its row: " + row_of(key));
        continue;
      }
      const auto& cells = rows[static_cast<size_t>(at - documented.begin())];
      const std::vector<std::string> expected = {key.key, key.type, key.default_value, key.allowed,
                                                 key.doc};
      const char* const columns[] = {"key", "type", "default", "allowed", "meaning"};
      for (size_t column = 1; column < expected.size(); ++column) {
        const std::string documented_cell = column < cells.size() ? cells[column] : "";
        if (documented_cell != expected[column]) {
          found.push_back(section.table + " " + key.key + ": " + columns[column] + " is '" +
                          documented_cell + "' in the docs, '" + expected[column] +
                          "' declared; its row: " + row_of(key));
        }
      }
    }
    for (const auto& key : documented) {
      if (std::find(declared.begin(), declared.end(), key) == declared.end()) {
        found.push_back(section.table + " " + key + ": documented but not declared");
      }
    }
    if (found.size() == before && documented != declared) {
      found.push_back(section.table + ": rows are not in declaration order");
    }
  }
  return found;
}

std::string docs() { return testing::read_file(testing::source_directory() + "/docs/config.md"); }

TEST(ConfigDocs, KeyTablesMatchTheDeclarations) { EXPECT_THAT(differences(docs()), IsEmpty()); }

TEST(ConfigDocs, ADifferingDefaultRangeOrChoiceIsReported) {
  std::string text = testing::replace_first(docs(), "| `warmup_steps` | integer | `0` |",
                                            "| `warmup_steps` | integer | `10` |");
  text = testing::replace_first(text, "| `batch_size` | integer | `128` | 1–2²⁰ |",
                                "| `batch_size` | integer | `128` | 1–2¹⁶ |");
  text =
      testing::replace_first(text, "`\"adam\"`, `\"adamw\"`, `\"sgd\"`", "`\"adam\"`, `\"sgd\"`");
  std::vector<std::string> found = differences(text);
  ASSERT_EQ(found.size(), 3u);
  EXPECT_THAT(found[0],
              HasSubstr("[train] `optimizer`: allowed is '`\"adam\"`, `\"sgd\"`' in the docs"));
  EXPECT_THAT(found[1],
              HasSubstr("[train] `warmup_steps`: default is '`10`' in the docs, '`0`' declared"));
  EXPECT_THAT(found[2],
              HasSubstr("[train] `batch_size`: allowed is '1–2¹⁶' in the docs, '1–2²⁰' declared"));
}

TEST(ConfigDocs, AMissingOrUndeclaredKeyIsReported) {
  std::string text = docs();
  size_t row = text.find("| `grad_clip` |");
  ASSERT_NE(row, std::string::npos);
  text.erase(row, text.find('\n', row) + 1 - row);
  text = testing::replace_first(
      text, "| `at_end` |",
      "| `at_start` | boolean | `false` | | before the first step |\n| `at_end` |");
  EXPECT_THAT(differences(text),
              ElementsAre(HasSubstr("[train] `grad_clip`: declared but not documented; its row: "
                                    "| `grad_clip` | float | `0.0` | ≥ 0 |"),
                          "[record] `at_start`: documented but not declared"));
}

// Where a run runs from, what it logs and records and its evaluation batches cannot change what
// it trains and measures; what it trains on and how can. Summaries build cells from this.
TEST(ConfigKeys, KeysThatCannotChangeResultsAreDeclaredSoAndMarkedInTheDocs) {
  for (const char* key : {"run.threads", "run.output", "run.plugin_dirs", "run.checkpoint_every",
                          "run.log_every", "run.distributed.timeout", "train.eval_batch_size",
                          "record.every", "record.probe_size", "record.metrics",
                          "record.metrics.0.plugin"}) {
    EXPECT_TRUE(leaves_results(key)) << key;
  }
  for (const char* key : {"run.seed", "run.device", "train.learning_rate", "train.batch_size",
                          "train.train_eval_size", "train.precision", "guidance.alpha",
                          "guidance.enabled", "dataset.plugin", "record", "run.threads.x",
                          "train.eval_batch_size_x"}) {
    EXPECT_FALSE(leaves_results(key)) << key;
  }
  std::string text = docs();
  size_t row = text.find("| `eval_batch_size` |");
  ASSERT_NE(row, std::string::npos);
  std::string line = text.substr(row, text.find('\n', row) - row);
  EXPECT_THAT(line, HasSubstr(std::string(kLeavesResultsMark) + " |"));
}

// A trained guide is cached under the keys its own training reads, declared trains_guide(): a
// run of another seed or device trains its guide again, one differing in guidance, logging or the
// target's training reuses it.
TEST(ConfigKeys, TheTrainedGuideCacheKeyHoldsTheKeysDeclaredToTrainTheGuide) {
  Config config;
  config.run.seed = 3;
  EXPECT_EQ(guide_training_settings(config), "run.seed=3;run.device=\"cpu\";");
  Config other_settings = config;
  other_settings.guidance.alpha = 0.25;
  other_settings.run.threads = 7;
  other_settings.train.learning_rate = 0.5;
  EXPECT_EQ(guide_training_settings(other_settings), guide_training_settings(config));
  Config other_device = config;
  other_device.run.device = "cuda:1";
  EXPECT_NE(guide_training_settings(other_device), guide_training_settings(config));
  std::string text = docs();
  for (const char* key : {"seed", "device"}) {
    size_t row = text.find(std::string("| `") + key + "` |");
    ASSERT_NE(row, std::string::npos) << key;
    EXPECT_THAT(text.substr(row, text.find('\n', row) - row),
                HasSubstr(std::string(kTrainsGuideMark) + " |"));
  }
}

TEST(ConfigDocs, BoundsReadAsPowersWhenLarge) {
  EXPECT_EQ(bound_text(4096), "4096");
  EXPECT_EQ(bound_text(1 << 20), "2²⁰");
  EXPECT_EQ(bound_text(1e9), "10⁹");
  EXPECT_EQ(bound_text(1000), "1000");
  EXPECT_EQ(bound_text(0.5), "0.5");
}

}  // namespace
}  // namespace guidance
