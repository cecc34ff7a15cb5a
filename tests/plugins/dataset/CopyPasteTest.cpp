#include <set>

#include "tests/plugins/dataset/DatasetTestSupport.h"

namespace guidance::testing {
namespace {

constexpr int64_t kCopy = 1;
constexpr int64_t kEnd = 2;
constexpr int64_t kBlank = 3;

std::shared_ptr<Dataset> open_copy_paste(int64_t blanks, uint64_t seed = 7) {
  return open_dataset("copy-paste",
                      {{"content_vocab", int64_t{5}},
                       {"blanks", blanks},
                       {"min_length", int64_t{2}},
                       {"max_length", int64_t{6}},
                       {"train_size", int64_t{200}}},
                      seed);
}

TEST(CopyPasteDataset, DescribesANextTokenTask) {
  auto data = open_copy_paste(3);
  const TaskSpec& task = data->task();
  EXPECT_EQ(task.input_kind, InputKind::Tokens);
  EXPECT_EQ(task.input_shape, std::vector<int64_t>{2 * 6 + 3 + 2});
  EXPECT_EQ(task.vocab_size, 4 + 5);
  EXPECT_EQ(task.num_outputs, 4 + 5);
  EXPECT_EQ(task.pad_token, 0);
  EXPECT_EQ(task.target_kind, TargetKind::TokenPerPosition);
  EXPECT_EQ(task.measures, (std::vector<std::string>{"token_accuracy", "sequence_accuracy"}));
  EXPECT_EQ(data->size(Split::Train), 200);
  EXPECT_EQ(data->size(Split::Validation), 1000);
}

class CopyPasteLayout : public ::testing::TestWithParam<int64_t> {};

TEST_P(CopyPasteLayout, PromptBlanksCopyAnswerEndThenPadding) {
  const int64_t blanks = GetParam();
  auto data = open_copy_paste(blanks);
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

INSTANTIATE_TEST_SUITE_P(Blanks, CopyPasteLayout, ::testing::Values(0, 4));

TEST(CopyPasteDataset, SameSeedSameExamplesOtherSeedOthers) {
  auto indices = torch::tensor({5, 199, 0}, torch::kLong);
  Batch first = open_copy_paste(1)->batch(Split::Train, indices);
  Batch again = open_copy_paste(1)->batch(Split::Train, indices);
  EXPECT_TRUE(first.inputs.equal(again.inputs));
  EXPECT_TRUE(first.target_mask.equal(again.target_mask));
  EXPECT_FALSE(open_copy_paste(1, 99)->batch(Split::Train, indices).inputs.equal(first.inputs));
  EXPECT_FALSE(open_copy_paste(1)->batch(Split::Validation, indices).inputs.equal(first.inputs));
}

}  // namespace
}  // namespace guidance::testing
