#include "tests/plugins/dataset/DatasetTestSupport.h"

namespace guidance::testing {
namespace {

std::shared_ptr<Dataset> open_parity(uint64_t seed = 7) {
  return open_dataset("parity",
                      {{"min_length", int64_t{3}},
                       {"max_length", int64_t{9}},
                       {"train_size", int64_t{300}},
                       {"validation_size", int64_t{40}},
                       {"test_size", int64_t{50}}},
                      seed);
}

TEST(ParityDataset, DescribesATwoClassTokenTask) {
  auto data = open_parity();
  const TaskSpec& task = data->task();
  EXPECT_EQ(task.name, "parity");
  EXPECT_EQ(task.input_kind, InputKind::Tokens);
  EXPECT_EQ(task.input_shape, std::vector<int64_t>{9});
  EXPECT_EQ(task.vocab_size, 3);
  EXPECT_EQ(task.pad_token, 0);
  EXPECT_EQ(task.target_kind, TargetKind::Class);
  EXPECT_EQ(task.num_outputs, 2);
  EXPECT_EQ(task.measures, std::vector<std::string>{"top1"});
  EXPECT_EQ(data->size(Split::Train), 300);
  EXPECT_EQ(data->size(Split::Validation), 40);
  EXPECT_EQ(data->size(Split::Test), 50);
}

TEST(ParityDataset, LabelsAreTheParityOfTheOnes) {
  auto data = open_parity();
  Batch batch = whole_split(*data, Split::Train);
  ASSERT_EQ(batch.inputs.sizes(), (std::vector<int64_t>{300, 9}));
  ASSERT_EQ(batch.inputs.scalar_type(), torch::kLong);
  ASSERT_EQ(batch.mask.scalar_type(), torch::kBool);
  ASSERT_EQ(batch.targets.sizes(), (std::vector<int64_t>{300}));
  torch::Tensor lengths = batch.mask.sum(1);
  EXPECT_EQ(lengths.min().item<int64_t>(), 3);
  EXPECT_EQ(lengths.max().item<int64_t>(), 9);
  // Real positions come first and hold bits (1 or 2); padding is 0.
  EXPECT_TRUE(batch.mask.equal(torch::arange(9).unsqueeze(0) < lengths.unsqueeze(1)));
  EXPECT_TRUE(batch.inputs.masked_select(batch.mask).ge(1).all().item<bool>());
  EXPECT_TRUE(batch.inputs.masked_select(batch.mask).le(2).all().item<bool>());
  EXPECT_TRUE(batch.inputs.masked_select(batch.mask.logical_not()).eq(0).all().item<bool>());
  torch::Tensor ones = batch.inputs.eq(2).sum(1);
  EXPECT_TRUE(batch.targets.equal(ones.remainder(2)));
  // Both classes occur, so the labels are not constant.
  EXPECT_GT(batch.targets.sum().item<int64_t>(), 0);
  EXPECT_LT(batch.targets.sum().item<int64_t>(), 300);
}

TEST(ParityDataset, ExamplesDependOnlyOnSeedSplitAndIndex) {
  auto data = open_parity();
  Batch all = batch_range(*data, Split::Train, 0, 10);
  Batch picked = data->batch(Split::Train, torch::tensor({7, 2}, torch::kLong));
  EXPECT_TRUE(picked.inputs[0].equal(all.inputs[7]));
  EXPECT_TRUE(picked.inputs[1].equal(all.inputs[2]));
  EXPECT_TRUE(picked.targets.equal(torch::stack({all.targets[7], all.targets[2]})));
  EXPECT_TRUE(open_parity()->batch(Split::Train, torch::arange(10)).inputs.equal(all.inputs));
  EXPECT_FALSE(open_parity(8)->batch(Split::Train, torch::arange(10)).inputs.equal(all.inputs));
  EXPECT_FALSE(batch_range(*data, Split::Test, 0, 10).inputs.equal(all.inputs));
}

TEST(ParityDataset, RefusesBadIndicesAndLengths) {
  auto data = open_parity();
  EXPECT_TRUE(throws_mentioning<std::out_of_range>(
      [&] {
        data->batch(Split::Validation, torch::tensor({0, 40}, torch::kLong));
      },
      {"40", "validation", "size 40"}));
  EXPECT_TRUE(throws_mentioning<std::invalid_argument>(
      [] {
        open_dataset("parity", {{"min_length", int64_t{5}}, {"max_length", int64_t{4}}});
      },
      {"min_length 5", "max_length 4"}));
}

}  // namespace
}  // namespace guidance::testing
