#include <algorithm>
#include <set>
#include <utility>

#include "tests/plugins/dataset/DatasetTestSupport.h"

namespace guidance::testing {
namespace {

// The released format with S = 10: digits 0 .. 9, COPY 11, EOS 12.
constexpr int64_t kReleasedCopy = 11;
constexpr int64_t kReleasedEos = 12;

std::shared_ptr<Dataset> open_released(std::map<std::string, ParamValue> overrides = {},
                                       uint64_t seed = 7) {
  overrides.emplace("train_size", int64_t{400});
  return open_dataset("copy-paste", overrides, seed);
}

/// @return the index of the first example of `data`'s train split whose inputs begin with
/// `content` followed by `copy` (so whose content is exactly `content`); -1 if none.
int64_t find_content(const Dataset& data, const std::vector<int64_t>& content, int64_t copy) {
  std::vector<int64_t> prefix = content;
  prefix.push_back(copy);
  const auto width = static_cast<int64_t>(prefix.size());
  torch::Tensor wanted = torch::tensor(prefix, torch::kLong);
  for (int64_t i = 0; i < data.size(Split::Train); ++i) {
    torch::Tensor row = data.batch(Split::Train, torch::tensor({i}, torch::kLong)).inputs[0];
    if (row.size(0) >= width && row.slice(0, 0, width).equal(wanted)) return i;
  }
  return -1;
}

TEST(CopyPasteDataset, DefaultsAreTheReleasedTask) {
  auto plugin = built_plugins().dataset("copy-paste");
  Params defaults = defaults_of(plugin->info().params);
  EXPECT_EQ(defaults.string("format"), "released");
  auto data = plugin->open(defaults, DatasetContext{7, ""});
  const TaskSpec& task = data->task();
  EXPECT_EQ(task.input_kind, InputKind::Tokens);
  EXPECT_EQ(task.input_shape, std::vector<int64_t>{2 * 40 + 2});
  EXPECT_EQ(task.vocab_size, 13);
  EXPECT_EQ(task.num_outputs, 13);
  EXPECT_EQ(task.pad_token, 0);
  EXPECT_EQ(task.target_kind, TargetKind::TokenPerPosition);
  EXPECT_EQ(task.measures, (std::vector<std::string>{"token_accuracy", "sequence_accuracy"}));
  // The released split sizes for its 100 000 samples: 80 % train, the rest validation, and a
  // test split as large as validation.
  EXPECT_EQ(data->size(Split::Train), 80000);
  EXPECT_EQ(data->size(Split::Validation), 20000);
  EXPECT_EQ(data->size(Split::Test), 20000);
}

TEST(CopyPasteDataset, ReleasedExampleWrittenOutByHand) {
  // S = 3: digits 0, 1, 2; COPY 4; EOS 5; id 3 unused. The content [2, 0]:
  auto data = open_released(
      {{"content_vocab", int64_t{3}}, {"min_length", int64_t{2}}, {"max_length", int64_t{2}}});
  EXPECT_EQ(data->task().vocab_size, 6);
  EXPECT_EQ(data->task().input_shape, std::vector<int64_t>{6});
  const int64_t index = find_content(*data, {2, 0}, 4);
  ASSERT_GE(index, 0);
  Batch batch = data->batch(Split::Train, torch::tensor({index}, torch::kLong));
  EXPECT_TRUE(batch.inputs.equal(torch::tensor({{2, 0, 4, 0, 0, 5}}, torch::kLong)));
  EXPECT_TRUE(batch.targets.equal(torch::tensor({{0, 0, 0, 2, 0, 5}}, torch::kLong)));
  EXPECT_TRUE(batch.mask.equal(torch::ones({1, 6}, torch::kBool)));
  // Scored where the target is not 0: the 0 digit of the answer is not.
  EXPECT_TRUE(batch.target_mask.equal(torch::tensor({{false, false, false, true, false, true}})));
}

TEST(CopyPasteDataset, ReleasedBatchesArePaddedWithZeroToTheirLongestExample) {
  auto data = open_released(
      {{"content_vocab", int64_t{3}}, {"min_length", int64_t{1}}, {"max_length", int64_t{3}}});
  const int64_t short_one = find_content(*data, {1}, 4);
  const int64_t long_one = find_content(*data, {2, 2, 1}, 4);
  ASSERT_GE(short_one, 0);
  ASSERT_GE(long_one, 0);
  Batch pair = data->batch(Split::Train, torch::tensor({short_one, long_one}, torch::kLong));
  EXPECT_TRUE(pair.inputs.equal(
      torch::tensor({{1, 4, 0, 5, 0, 0, 0, 0}, {2, 2, 1, 4, 0, 0, 0, 5}}, torch::kLong)));
  EXPECT_TRUE(pair.targets.equal(
      torch::tensor({{0, 0, 1, 5, 0, 0, 0, 0}, {0, 0, 0, 0, 2, 2, 1, 5}}, torch::kLong)));
  EXPECT_TRUE(pair.mask.equal(torch::tensor(
      {{true, true, true, true, false, false, false, false}, {true, true, true, true, true, true, true, true}})));
  EXPECT_TRUE(pair.target_mask.equal(pair.targets.ne(0)));
  // Alone, the short example is only as wide as itself.
  Batch alone = data->batch(Split::Train, torch::tensor({short_one}, torch::kLong));
  EXPECT_TRUE(alone.inputs.equal(pair.inputs.slice(1, 0, 4).slice(0, 0, 1)));
}

TEST(CopyPasteDataset, ReleasedLayoutHoldsForEveryExample) {
  auto data = open_released();
  Batch batch = whole_split(*data, Split::Train);
  std::set<int64_t> lengths;
  int64_t longest = 0;
  for (int64_t b = 0; b < 400; ++b) {
    torch::Tensor row = batch.inputs[b];
    const int64_t k = row.eq(kReleasedCopy).nonzero().item<int64_t>();
    lengths.insert(k);
    longest = std::max(longest, k);
    ASSERT_GE(k, 20);
    ASSERT_LE(k, 40);
    torch::Tensor content = row.slice(0, 0, k);
    EXPECT_TRUE(content.ge(0).logical_and(content.le(9)).all().item<bool>());
    EXPECT_TRUE(row.slice(0, k + 1, 2 * k + 1).eq(0).all().item<bool>());
    EXPECT_EQ(row[2 * k + 1].item<int64_t>(), kReleasedEos);
    EXPECT_TRUE(row.slice(0, 2 * k + 2).eq(0).all().item<bool>());
    EXPECT_TRUE(batch.mask[b].equal(torch::arange(row.size(0)) < 2 * k + 2));
    torch::Tensor target = batch.targets[b];
    EXPECT_TRUE(target.slice(0, 0, k + 1).eq(0).all().item<bool>());
    EXPECT_TRUE(target.slice(0, k + 1, 2 * k + 1).equal(content));
    EXPECT_EQ(target[2 * k + 1].item<int64_t>(), kReleasedEos);
    EXPECT_TRUE(target.slice(0, 2 * k + 2).eq(0).all().item<bool>());
  }
  EXPECT_EQ(batch.inputs.size(1), 2 * longest + 2);
  EXPECT_TRUE(batch.target_mask.equal(batch.targets.ne(0)));
  EXPECT_EQ(*lengths.begin(), 20);
  EXPECT_EQ(*lengths.rbegin(), 40);
}

TEST(CopyPasteDataset, ReleasedExamplesAreDrawnByIndexFromTheSeed) {
  auto data = open_released();
  Batch all = batch_range(*data, Split::Train, 0, 10);
  Batch picked = data->batch(Split::Train, torch::tensor({7, 2}, torch::kLong));
  for (auto [row, index] : {std::pair<int64_t, int64_t>{0, 7}, {1, 2}}) {
    const int64_t width = picked.mask[row].sum().item<int64_t>();
    EXPECT_TRUE(picked.inputs[row].slice(0, 0, width).equal(all.inputs[index].slice(0, 0, width)));
    EXPECT_TRUE(picked.targets[row].slice(0, 0, width).equal(all.targets[index].slice(0, 0, width)));
    EXPECT_EQ(all.mask[index].sum().item<int64_t>(), width);
  }
  EXPECT_TRUE(batch_range(*open_released(), Split::Train, 0, 10).inputs.equal(all.inputs));
  EXPECT_FALSE(batch_range(*open_released({}, 8), Split::Train, 0, 10).inputs.equal(all.inputs));
  EXPECT_FALSE(batch_range(*data, Split::Validation, 0, 10).inputs.equal(all.inputs));
}

TEST(CopyPasteDataset, RefusesBlanksAndEmptyLengthRangesInTheReleasedFormat) {
  EXPECT_TRUE(throws_mentioning<std::invalid_argument>(
      [] { open_released({{"blanks", int64_t{3}}}); }, {"copy-paste", "blanks = 3", "workbench"}));
  // max_length alone below the released minimum of 20.
  EXPECT_TRUE(throws_mentioning<std::invalid_argument>(
      [] { open_released({{"max_length", int64_t{10}}}); }, {"min_length 20", "max_length 10"}));
}

std::shared_ptr<Dataset> open_workbench(int64_t blanks, uint64_t seed = 7) {
  return open_dataset("copy-paste",
                      {{"format", std::string("workbench")},
                       {"content_vocab", int64_t{5}},
                       {"blanks", blanks},
                       {"min_length", int64_t{2}},
                       {"max_length", int64_t{6}},
                       {"train_size", int64_t{200}}},
                      seed);
}

constexpr int64_t kCopy = 1;
constexpr int64_t kEnd = 2;
constexpr int64_t kBlank = 3;

TEST(CopyPasteWorkbench, DescribesANextTokenTask) {
  auto data = open_workbench(3);
  const TaskSpec& task = data->task();
  EXPECT_EQ(task.input_kind, InputKind::Tokens);
  EXPECT_EQ(task.input_shape, std::vector<int64_t>{2 * 6 + 3 + 2});
  EXPECT_EQ(task.vocab_size, 4 + 5);
  EXPECT_EQ(task.num_outputs, 4 + 5);
  EXPECT_EQ(task.pad_token, 0);
  EXPECT_EQ(task.target_kind, TargetKind::TokenPerPosition);
  EXPECT_EQ(task.measures, (std::vector<std::string>{"token_accuracy", "sequence_accuracy"}));
  EXPECT_EQ(data->size(Split::Train), 200);
}

TEST(CopyPasteWorkbench, LengthsDefaultToOneToTwenty) {
  auto data = open_dataset("copy-paste", {{"format", std::string("workbench")}});
  EXPECT_EQ(data->task().input_shape, std::vector<int64_t>{2 * 20 + 2});
  Batch batch = batch_range(*data, Split::Train, 0, 2000);
  torch::Tensor k = (batch.mask.sum(1) - 2) / 2;
  EXPECT_EQ(k.min().item<int64_t>(), 1);
  EXPECT_EQ(k.max().item<int64_t>(), 20);
}

class CopyPasteWorkbenchLayout : public ::testing::TestWithParam<int64_t> {};

TEST_P(CopyPasteWorkbenchLayout, PromptBlanksCopyAnswerEndThenPadding) {
  const int64_t blanks = GetParam();
  auto data = open_workbench(blanks);
  Batch batch = whole_split(*data, Split::Train);
  const int64_t width = data->task().input_shape[0];
  ASSERT_EQ(batch.inputs.sizes(), (std::vector<int64_t>{200, width}));
  ASSERT_EQ(batch.targets.sizes(), batch.inputs.sizes());
  ASSERT_EQ(batch.target_mask.scalar_type(), torch::kBool);
  std::set<int64_t> lengths;
  for (int64_t b = 0; b < 200; ++b) {
    auto row = batch.inputs[b];
    const int64_t copy_at = row.eq(kCopy).nonzero().item<int64_t>();
    const int64_t k = copy_at - blanks;
    lengths.insert(k);
    ASSERT_GE(k, 2);
    ASSERT_LE(k, 6);
    auto content = row.slice(0, 0, k);
    EXPECT_TRUE(content.ge(4).logical_and(content.lt(9)).all().item<bool>());
    EXPECT_TRUE(row.slice(0, k, copy_at).eq(kBlank).all().item<bool>());
    EXPECT_TRUE(row.slice(0, copy_at + 1, copy_at + 1 + k).equal(content));
    EXPECT_EQ(row[copy_at + 1 + k].item<int64_t>(), kEnd);
    EXPECT_TRUE(row.slice(0, copy_at + 2 + k).eq(0).all().item<bool>());
    EXPECT_TRUE(batch.mask[b].equal(torch::arange(width) < copy_at + 2 + k));
    // Next-token targets, scored from COPY (predicting the first copied token) to the last copied
    // token (predicting END).
    EXPECT_TRUE(batch.targets[b].slice(0, 0, width - 1).equal(row.slice(0, 1)));
    EXPECT_EQ(batch.targets[b][width - 1].item<int64_t>(), 0);
    auto positions = torch::arange(width);
    EXPECT_TRUE(
        batch.target_mask[b].equal(positions.ge(copy_at).logical_and(positions.le(copy_at + k))));
    auto scored = batch.targets[b].masked_select(batch.target_mask[b]);
    EXPECT_TRUE(scored.slice(0, 0, k).equal(content));
    EXPECT_EQ(scored[k].item<int64_t>(), kEnd);
  }
  EXPECT_EQ(lengths, (std::set<int64_t>{2, 3, 4, 5, 6}));
}

INSTANTIATE_TEST_SUITE_P(Blanks, CopyPasteWorkbenchLayout, ::testing::Values(0, 4));

TEST(CopyPasteWorkbench, SameSeedSameExamplesOtherSeedOthers) {
  auto indices = torch::tensor({5, 199, 0}, torch::kLong);
  Batch first = open_workbench(1)->batch(Split::Train, indices);
  Batch again = open_workbench(1)->batch(Split::Train, indices);
  EXPECT_TRUE(first.inputs.equal(again.inputs));
  EXPECT_TRUE(first.target_mask.equal(again.target_mask));
  EXPECT_FALSE(open_workbench(1, 99)->batch(Split::Train, indices).inputs.equal(first.inputs));
  EXPECT_FALSE(open_workbench(1)->batch(Split::Validation, indices).inputs.equal(first.inputs));
}

TEST(CopyPasteWorkbench, BothFormatsDrawTheSameContent) {
  // The formats differ in layout only: example i holds the same symbols in either.
  auto released = open_released(
      {{"content_vocab", int64_t{5}}, {"min_length", int64_t{2}}, {"max_length", int64_t{6}}});
  Batch a = batch_range(*released, Split::Train, 0, 20);
  Batch b = batch_range(*open_workbench(0), Split::Train, 0, 20);
  for (int64_t i = 0; i < 20; ++i) {
    const int64_t k = a.inputs[i].eq(5 + 1).nonzero().item<int64_t>();
    EXPECT_TRUE(b.inputs[i].slice(0, 0, k).sub(4).equal(a.inputs[i].slice(0, 0, k)));
    EXPECT_EQ(b.inputs[i][k].item<int64_t>(), kCopy);
  }
}

}  // namespace
}  // namespace guidance::testing
