#include <filesystem>

#include "tests/plugins/dataset/DatasetTestSupport.h"

namespace guidance::testing {
namespace {

constexpr int kUnknown = 1;

// 100 characters: 80 of training text ("aaab" x 20, so a -> 2, b -> 3), then 10 of validation
// and 10 of test holding 'z', which the training portion never shows.
std::string char_text() {
  std::string text;
  for (int i = 0; i < 20; ++i) text += "aaab";
  return text + "abzabzabza" + "zzzzzbbbbb";
}

std::shared_ptr<Dataset> open_text(const std::string& path,
                                   std::map<std::string, ParamValue> overrides = {},
                                   const std::string& base = "") {
  overrides.emplace("path", path);
  return open_dataset("text", overrides, 7, base);
}

std::map<std::string, ParamValue> workbench_characters(int64_t context) {
  return {{"format", std::string("workbench")},
          {"unit", std::string("character")},
          {"context", context}};
}

TEST(TextDataset, DefaultsAreWordsInWholeWindowsOf256) {
  Params defaults = defaults_of(built_plugins().dataset("text")->info().params);
  EXPECT_EQ(defaults.string("unit"), "word");
  EXPECT_EQ(defaults.string("format"), "released");
  EXPECT_EQ(defaults.integer("context"), 256);
  EXPECT_EQ(defaults.integer("vocab_size"), 0);
}

TEST(TextDataset, ReleasedWindowsAreWholeAndPredictWithinThemselves) {
  TemporaryDirectory dir;
  write_file(dir.file("corpus.txt"), char_text());
  auto data =
      open_text(dir.file("corpus.txt"), {{"unit", std::string("character")}, {"context", int64_t{4}}});
  EXPECT_EQ(data->task().vocab_size, 4);  // pad, <unk>, a, b
  EXPECT_EQ(data->task().input_shape, std::vector<int64_t>{4});
  // 80 / 10 / 10 characters: whole windows of 4 only, the rest dropped.
  EXPECT_EQ(data->size(Split::Train), 20);
  EXPECT_EQ(data->size(Split::Validation), 2);
  EXPECT_EQ(data->size(Split::Test), 2);
  Batch first = batch_range(*data, Split::Train, 0, 1);
  EXPECT_TRUE(first.inputs.equal(torch::tensor({{2, 2, 2, 3}}, torch::kLong)));
  EXPECT_TRUE(first.targets.equal(torch::tensor({{2, 2, 3, 0}}, torch::kLong)));
  EXPECT_TRUE(first.mask.all().item<bool>());
  EXPECT_TRUE(first.target_mask.equal(torch::tensor({{true, true, true, false}})));
  // "abza" then "bzab": the boundary token b is never a target.
  Batch validation = whole_split(*data, Split::Validation);
  EXPECT_TRUE(validation.inputs.equal(
      torch::tensor({{2, 3, kUnknown, 2}, {3, kUnknown, 2, 3}}, torch::kLong)));
  EXPECT_TRUE(validation.targets.equal(
      torch::tensor({{3, kUnknown, 2, 0}, {kUnknown, 2, 3, 0}}, torch::kLong)));
  auto strided = open_text(dir.file("corpus.txt"), {{"unit", std::string("character")},
                                                    {"context", int64_t{8}},
                                                    {"stride", int64_t{2}}});
  EXPECT_EQ(strided->size(Split::Train), 37);  // starts 0, 2, .., 72
}

TEST(TextDataset, WordsSplitOffPunctuationAndLineEnds) {
  TemporaryDirectory dir;
  write_file(dir.file("words.txt"), "the cat, the hat.\nthe <unk> cat\n");
  std::map<std::string, ParamValue> words{{"context", int64_t{5}},
                                          {"validation_fraction", 0.0},
                                          {"test_fraction", 0.0}};
  auto data = open_text(dir.file("words.txt"), words);
  // the x3, <eol> x2, cat x2, then , . hat once each (ties in byte order); "<unk>" is <unk>.
  EXPECT_EQ(data->task().vocab_size, 8);
  ASSERT_EQ(data->size(Split::Train), 2);  // 11 tokens: the last <eol> is dropped
  Batch batch = whole_split(*data, Split::Train);
  EXPECT_TRUE(batch.inputs.equal(torch::tensor({{2, 4, 5, 2, 7}, {6, 3, 2, kUnknown, 4}}, torch::kLong)));
  EXPECT_TRUE(batch.targets.equal(torch::tensor({{4, 5, 2, 7, 0}, {3, 2, kUnknown, 4, 0}}, torch::kLong)));

  words.emplace("vocab_size", int64_t{2});  // keeps "the" and <eol>
  auto capped = open_text(dir.file("words.txt"), words);
  EXPECT_EQ(capped->task().vocab_size, 4);
  EXPECT_TRUE(batch_range(*capped, Split::Train, 0, 1)
                  .inputs.equal(torch::tensor({{2, 1, 1, 2, 1}}, torch::kLong)));

  write_file(dir.file("apostrophe.txt"), "don't stop");
  auto split = open_text(dir.file("apostrophe.txt"), {{"context", int64_t{4}},
                                                      {"validation_fraction", 0.0},
                                                      {"test_fraction", 0.0}});
  // don ' t stop: four tokens seen once, in byte order: ' don stop t.
  EXPECT_TRUE(batch_range(*split, Split::Train, 0, 1)
                  .inputs.equal(torch::tensor({{3, 2, 5, 4}}, torch::kLong)));
}

TEST(TextWorkbench, CharactersSplitContiguouslyWithATrainingVocabulary) {
  TemporaryDirectory dir;
  write_file(dir.file("corpus.txt"), char_text());
  auto data = open_text(dir.file("corpus.txt"), workbench_characters(4));
  const TaskSpec& task = data->task();
  EXPECT_EQ(task.input_kind, InputKind::Tokens);
  EXPECT_EQ(task.input_shape, std::vector<int64_t>{4});
  EXPECT_EQ(task.vocab_size, 4);  // pad, <unk>, a, b
  EXPECT_EQ(task.num_outputs, 4);
  EXPECT_EQ(task.target_kind, TargetKind::TokenPerPosition);
  EXPECT_EQ(task.measures, (std::vector<std::string>{"perplexity", "token_accuracy"}));
  // 80 training tokens give 79 next-token targets: windows at 0, 4, .., 76, the last of 3.
  EXPECT_EQ(data->size(Split::Train), 20);
  EXPECT_EQ(data->size(Split::Validation), 3);
  EXPECT_EQ(data->size(Split::Test), 3);

  Batch first = batch_range(*data, Split::Train, 0, 1);
  EXPECT_TRUE(first.inputs.equal(torch::tensor({{2, 2, 2, 3}}, torch::kLong)));
  EXPECT_TRUE(first.targets.equal(torch::tensor({{2, 2, 3, 2}}, torch::kLong)));
  EXPECT_TRUE(first.mask.all().item<bool>());
  EXPECT_TRUE(first.target_mask.equal(first.mask));

  Batch last = batch_range(*data, Split::Train, 19, 1);
  EXPECT_TRUE(last.inputs.equal(torch::tensor({{2, 2, 2, 0}}, torch::kLong)));
  EXPECT_TRUE(last.targets.equal(torch::tensor({{2, 2, 3, 0}}, torch::kLong)));
  EXPECT_TRUE(last.mask.equal(torch::tensor({{true, true, true, false}})));
  EXPECT_TRUE(last.target_mask.equal(last.mask));

  Batch validation = whole_split(*data, Split::Validation);
  EXPECT_TRUE(validation.inputs[0].equal(torch::tensor({2, 3, kUnknown, 2}, torch::kLong)));
  EXPECT_TRUE(validation.targets[0].equal(torch::tensor({3, kUnknown, 2, 3}, torch::kLong)));
  Batch test = batch_range(*data, Split::Test, 0, 1);
  EXPECT_TRUE(test.inputs[0].equal(torch::full({4}, kUnknown, torch::kLong)));
}

TEST(TextWorkbench, StrideOverlapsWindows) {
  TemporaryDirectory dir;
  write_file(dir.file("corpus.txt"), char_text());
  auto options = workbench_characters(8);
  options.emplace("stride", int64_t{2});
  auto data = open_text(dir.file("corpus.txt"), options);
  // Windows start at 0, 2, .., 72; the one at 72 covers targets up to token 79.
  EXPECT_EQ(data->size(Split::Train), 37);
  Batch pair = batch_range(*data, Split::Train, 0, 2);
  EXPECT_TRUE(pair.inputs[1].slice(0, 0, 6).equal(pair.inputs[0].slice(0, 2)));
}

TEST(TextWorkbench, WordsBelowMinCountBecomeUnknown) {
  TemporaryDirectory dir;
  std::string text;
  for (int i = 0; i < 8; ++i) text += "the cat sat on the mat\n";
  text += "the dog ran the end";
  write_file(dir.file("words.txt"), text);
  auto data = open_text(dir.file("words.txt"), {{"format", std::string("workbench")},
                                                {"context", int64_t{6}},
                                                {"min_count", int64_t{9}},
                                                {"validation_fraction", 0.0},
                                                {"test_fraction", 0.1}});
  // 61 tokens (7 per line with its <eol>, then 5): the last 6 test, from the 8th <eol> on.
  // Training tokens: the x16, cat/sat/on/mat x8 each, <eol> x7: only "the" reaches min_count 9.
  EXPECT_EQ(data->task().vocab_size, 3);
  Batch first = batch_range(*data, Split::Train, 0, 1);
  EXPECT_TRUE(first.inputs[0].equal(torch::tensor({2, 1, 1, 1, 2, 1}, torch::kLong)));
  EXPECT_EQ(data->size(Split::Validation), 0);
  Batch test = whole_split(*data, Split::Test);
  EXPECT_TRUE(test.inputs[0].slice(0, 0, 5).equal(torch::tensor({1, 2, 1, 1, 2}, torch::kLong)));
  EXPECT_TRUE(test.targets[0].slice(0, 0, 5).equal(torch::tensor({2, 1, 1, 2, 1}, torch::kLong)));
  EXPECT_TRUE(test.target_mask[0].equal(torch::tensor({true, true, true, true, true, false})));
}

TEST(TextDataset, RelativePathsResolveAgainstTheBaseDirectory) {
  TemporaryDirectory dir;
  write_file(dir.file("data/corpus.txt"), char_text());
  auto data = open_text("data/corpus.txt", workbench_characters(4), dir.path());
  EXPECT_EQ(data->size(Split::Train), 20);
}

// A folder is its files' text in name order, each ending a line: the folder must open as the file
// holding that text would. A link to a file already read and a binary index (fortune's layout:
// `name`, `name.dat`, `name.u8 -> name`) add nothing.
TEST(TextDataset, AFolderIsItsTextFilesInNameOrderEachReadOnce) {
  TemporaryDirectory dir;
  const std::string first(char_text().substr(0, 60));   // no line end: the folder adds one
  const std::string second = "zzzab\nbbaab\n";
  write_file(dir.file("corpus/b"), second);
  write_file(dir.file("corpus/a"), first);
  write_file(dir.file("corpus/a.dat"), std::string("\0\0\0\2index", 9));
  std::filesystem::create_symlink(dir.file("corpus/a"), dir.file("corpus/a.u8"));
  write_file(dir.file("expected.txt"), first + "\n" + second);
  auto folder = open_text(dir.file("corpus"), workbench_characters(4));
  auto file = open_text(dir.file("expected.txt"), workbench_characters(4));
  EXPECT_EQ(folder->task().vocab_size, file->task().vocab_size);
  for (Split split : {Split::Train, Split::Validation, Split::Test}) {
    ASSERT_EQ(folder->size(split), file->size(split)) << to_string(split);
    EXPECT_TRUE(whole_split(*folder, split).inputs.equal(whole_split(*file, split).inputs))
        << to_string(split);
  }
  write_file(dir.file("binary/only.dat"), std::string("\0\1", 2));
  EXPECT_TRUE(throws_mentioning<ParamError>([&] { open_text(dir.file("binary")); },
                                            {dir.file("binary"), "holds no text"}));
}

TEST(TextDataset, MissingEmptyAndTooShortFilesAreNamed) {
  TemporaryDirectory dir;
  EXPECT_TRUE(throws_mentioning<ParamError>([&] { open_text(dir.file("absent.txt")); },
                                {dir.file("absent.txt"), "no such file"}));
  write_file(dir.file("empty.txt"), "");
  EXPECT_TRUE(throws_mentioning([&] { open_text(dir.file("empty.txt")); },
                                {dir.file("empty.txt"), "empty"}));
  write_file(dir.file("short.txt"), "a");
  EXPECT_TRUE(throws_mentioning([&] { open_text(dir.file("short.txt"), workbench_characters(4)); },
                                {dir.file("short.txt"), "too short", "at least 2"}));
  // The released format needs one whole window of training tokens.
  write_file(dir.file("few.txt"), "one two three four five six seven eight nine ten");
  EXPECT_TRUE(throws_mentioning([&] { open_text(dir.file("few.txt")); },
                                {dir.file("few.txt"), "too short", "8 for training",
                                 "at least 256"}));
}

}  // namespace
}  // namespace guidance::testing
