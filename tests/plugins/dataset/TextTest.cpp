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

TEST(TextDataset, CharactersSplitContiguouslyWithATrainingVocabulary) {
  TemporaryDirectory dir;
  write_file(dir.file("corpus.txt"), char_text());
  auto data = open_text(dir.file("corpus.txt"), {{"context", int64_t{4}}});
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

TEST(TextDataset, StrideOverlapsWindows) {
  TemporaryDirectory dir;
  write_file(dir.file("corpus.txt"), char_text());
  auto data = open_text(dir.file("corpus.txt"), {{"context", int64_t{8}}, {"stride", int64_t{2}}});
  // Windows start at 0, 2, .., 72; the one at 72 covers targets up to token 79.
  EXPECT_EQ(data->size(Split::Train), 37);
  Batch pair = batch_range(*data, Split::Train, 0, 2);
  EXPECT_TRUE(pair.inputs[1].slice(0, 0, 6).equal(pair.inputs[0].slice(0, 2)));
}

TEST(TextDataset, WordsBelowMinCountBecomeUnknown) {
  TemporaryDirectory dir;
  std::string text;
  for (int i = 0; i < 8; ++i) text += "the cat sat on the mat\n";
  text += "the dog ran the end";  // 5 words, test only (fractions 0 / 0.1 of 53 words)
  write_file(dir.file("words.txt"), text);
  auto data = open_text(dir.file("words.txt"), {{"level", std::string("word")},
                                                {"context", int64_t{6}},
                                                {"min_count", int64_t{9}},
                                                {"validation_fraction", 0.0},
                                                {"test_fraction", 0.1}});
  // Training words: the x16, cat/sat/on/mat x8 each: only "the" reaches min_count 9.
  EXPECT_EQ(data->task().vocab_size, 3);
  Batch first = batch_range(*data, Split::Train, 0, 1);
  EXPECT_TRUE(first.inputs[0].equal(torch::tensor({2, 1, 1, 1, 2, 1}, torch::kLong)));
  EXPECT_EQ(data->size(Split::Validation), 0);
  Batch test = whole_split(*data, Split::Test);
  EXPECT_TRUE(test.inputs[0].slice(0, 0, 4).equal(torch::tensor({2, 1, 1, 2}, torch::kLong)));
  EXPECT_TRUE(test.targets[0].slice(0, 0, 4).equal(torch::tensor({1, 1, 2, 1}, torch::kLong)));
}

TEST(TextDataset, RelativePathsResolveAgainstTheBaseDirectory) {
  TemporaryDirectory dir;
  write_file(dir.file("data/corpus.txt"), char_text());
  auto data = open_text("data/corpus.txt", {{"context", int64_t{4}}}, dir.path());
  EXPECT_EQ(data->size(Split::Train), 20);
}

TEST(TextDataset, MissingEmptyAndTooShortFilesAreNamed) {
  TemporaryDirectory dir;
  EXPECT_TRUE(throws_mentioning([&] { open_text(dir.file("absent.txt")); },
                                {dir.file("absent.txt"), "no such file"}));
  write_file(dir.file("empty.txt"), "");
  EXPECT_TRUE(throws_mentioning([&] { open_text(dir.file("empty.txt")); },
                                {dir.file("empty.txt"), "empty"}));
  write_file(dir.file("short.txt"), "a");
  EXPECT_TRUE(throws_mentioning([&] { open_text(dir.file("short.txt")); },
                                {dir.file("short.txt"), "too short"}));
}

}  // namespace
}  // namespace guidance::testing
