#include <utility>

#include "tests/plugins/dataset/DatasetTestSupport.h"

namespace guidance::testing {
namespace {

constexpr int kReleasedPad = 2;

std::shared_ptr<Dataset> open_released(std::map<std::string, ParamValue> overrides = {},
                                       uint64_t seed = 7) {
  overrides.emplace("train_size", int64_t{2000});
  return open_dataset("parity", overrides, seed);
}

TEST(ParityDataset, DefaultsAreTheReleasedTask) {
  auto plugin = built_plugins().dataset("parity");
  Params defaults = defaults_of(plugin->info().params);
  EXPECT_EQ(defaults.string("format"), "released");
  auto data = plugin->open(defaults, DatasetContext{7, ""});
  const TaskSpec& task = data->task();
  EXPECT_EQ(task.name, "parity");
  EXPECT_EQ(task.input_kind, InputKind::Tokens);
  EXPECT_EQ(task.input_shape, std::vector<int64_t>{50});
  EXPECT_EQ(task.vocab_size, 3);
  EXPECT_EQ(task.pad_token, kReleasedPad);
  EXPECT_EQ(task.target_kind, TargetKind::Class);
  EXPECT_EQ(task.num_outputs, 2);
  EXPECT_EQ(task.class_loss, ClassLoss::OneHotBinaryCrossEntropy);
  EXPECT_EQ(task.measures, std::vector<std::string>{"top1"});
  // 80 / 10 / 10 % of the released 100 000 samples.
  EXPECT_EQ(data->size(Split::Train), 80000);
  EXPECT_EQ(data->size(Split::Validation), 10000);
  EXPECT_EQ(data->size(Split::Test), 10000);
}

TEST(ParityDataset, ReleasedExamplesWrittenOutByHand) {
  auto data = open_released({{"min_length", int64_t{2}}, {"max_length", int64_t{3}}});
  Batch all = whole_split(*data, Split::Train);
  auto find = [&](const std::vector<int64_t>& bits) {
    const auto length = static_cast<int64_t>(bits.size());
    for (int64_t i = 0; i < all.inputs.size(0); ++i) {
      if (all.mask[i].sum().item<int64_t>() == length &&
          all.inputs[i].slice(0, 0, length).equal(torch::tensor(bits, torch::kLong))) {
        return i;
      }
    }
    return int64_t{-1};
  };
  const int64_t two = find({1, 1});
  const int64_t three = find({1, 0, 1});
  ASSERT_GE(two, 0);
  ASSERT_GE(three, 0);
  Batch pair = data->batch(Split::Train, torch::tensor({two, three}, torch::kLong));
  EXPECT_TRUE(pair.inputs.equal(torch::tensor({{1, 1, kReleasedPad}, {1, 0, 1}}, torch::kLong)));
  EXPECT_TRUE(pair.mask.equal(torch::tensor({{true, true, false}, {true, true, true}})));
  EXPECT_TRUE(pair.targets.equal(torch::tensor({0, 0}, torch::kLong)));
  // Alone, the two-bit string is not padded at all.
  Batch alone = data->batch(Split::Train, torch::tensor({two}, torch::kLong));
  EXPECT_TRUE(alone.inputs.equal(torch::tensor({{1, 1}}, torch::kLong)));
  const int64_t odd = find({0, 1, 0});
  ASSERT_GE(odd, 0);
  EXPECT_EQ(data->batch(Split::Train, torch::tensor({odd}, torch::kLong)).targets.item<int64_t>(), 1);
}

TEST(ParityDataset, ReleasedLengthsBitsPaddingAndLabels) {
  auto data = open_released();
  Batch batch = whole_split(*data, Split::Train);
  ASSERT_EQ(batch.inputs.scalar_type(), torch::kLong);
  ASSERT_EQ(batch.mask.scalar_type(), torch::kBool);
  ASSERT_EQ(batch.targets.sizes(), (std::vector<int64_t>{2000}));
  torch::Tensor lengths = batch.mask.sum(1);
  EXPECT_EQ(lengths.min().item<int64_t>(), 2);
  EXPECT_EQ(lengths.max().item<int64_t>(), 50);
  EXPECT_EQ(batch.inputs.size(1), 50);
  EXPECT_TRUE(batch.mask.equal(torch::arange(50).unsqueeze(0) < lengths.unsqueeze(1)));
  EXPECT_TRUE(batch.inputs.masked_select(batch.mask).le(1).all().item<bool>());
  EXPECT_TRUE(batch.inputs.masked_select(batch.mask.logical_not()).eq(kReleasedPad).all().item<bool>());
  torch::Tensor ones = batch.inputs.eq(1).sum(1);
  EXPECT_TRUE(batch.targets.equal(ones.remainder(2)));
  EXPECT_GT(batch.targets.sum().item<int64_t>(), 0);
  EXPECT_LT(batch.targets.sum().item<int64_t>(), 2000);
}

TEST(ParityDataset, ReleasedExamplesAreDrawnByIndexFromTheSeed) {
  auto data = open_released();
  Batch all = batch_range(*data, Split::Train, 0, 10);
  Batch picked = data->batch(Split::Train, torch::tensor({7, 2}, torch::kLong));
  for (auto [row, index] : {std::pair<int64_t, int64_t>{0, 7}, {1, 2}}) {
    const int64_t length = picked.mask[row].sum().item<int64_t>();
    EXPECT_EQ(all.mask[index].sum().item<int64_t>(), length);
    EXPECT_TRUE(picked.inputs[row].slice(0, 0, length).equal(all.inputs[index].slice(0, 0, length)));
  }
  EXPECT_TRUE(picked.targets.equal(torch::stack({all.targets[7], all.targets[2]})));
  EXPECT_TRUE(batch_range(*open_released(), Split::Train, 0, 10).inputs.equal(all.inputs));
  EXPECT_FALSE(batch_range(*open_released({}, 8), Split::Train, 0, 10).inputs.equal(all.inputs));
  EXPECT_FALSE(batch_range(*data, Split::Test, 0, 10).inputs.equal(all.inputs));
}

std::shared_ptr<Dataset> open_workbench(uint64_t seed = 7) {
  return open_dataset("parity",
                      {{"format", std::string("workbench")},
                       {"min_length", int64_t{3}},
                       {"max_length", int64_t{9}},
                       {"train_size", int64_t{300}},
                       {"validation_size", int64_t{40}},
                       {"test_size", int64_t{50}}},
                      seed);
}

TEST(ParityWorkbench, DescribesATwoClassTokenTask) {
  auto data = open_workbench();
  const TaskSpec& task = data->task();
  EXPECT_EQ(task.name, "parity");
  EXPECT_EQ(task.input_kind, InputKind::Tokens);
  EXPECT_EQ(task.input_shape, std::vector<int64_t>{9});
  EXPECT_EQ(task.vocab_size, 3);
  EXPECT_EQ(task.pad_token, 0);
  EXPECT_EQ(task.target_kind, TargetKind::Class);
  EXPECT_EQ(task.num_outputs, 2);
  EXPECT_EQ(task.class_loss, ClassLoss::CrossEntropy);
  EXPECT_EQ(task.measures, std::vector<std::string>{"top1"});
  EXPECT_EQ(data->size(Split::Train), 300);
  EXPECT_EQ(data->size(Split::Validation), 40);
  EXPECT_EQ(data->size(Split::Test), 50);
  auto defaults = open_dataset("parity", {{"format", std::string("workbench")}});
  EXPECT_EQ(defaults->task().input_shape, std::vector<int64_t>{20});
  EXPECT_EQ(batch_range(*defaults, Split::Train, 0, 1000).mask.sum(1).min().item<int64_t>(), 1);
}

TEST(ParityWorkbench, LabelsAreTheParityOfTheOnes) {
  auto data = open_workbench();
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

TEST(ParityWorkbench, ExamplesDependOnlyOnSeedSplitAndIndex) {
  auto data = open_workbench();
  Batch all = batch_range(*data, Split::Train, 0, 10);
  Batch picked = data->batch(Split::Train, torch::tensor({7, 2}, torch::kLong));
  EXPECT_TRUE(picked.inputs[0].equal(all.inputs[7]));
  EXPECT_TRUE(picked.inputs[1].equal(all.inputs[2]));
  EXPECT_TRUE(picked.targets.equal(torch::stack({all.targets[7], all.targets[2]})));
  EXPECT_TRUE(open_workbench()->batch(Split::Train, torch::arange(10)).inputs.equal(all.inputs));
  EXPECT_FALSE(open_workbench(8)->batch(Split::Train, torch::arange(10)).inputs.equal(all.inputs));
  EXPECT_FALSE(batch_range(*data, Split::Test, 0, 10).inputs.equal(all.inputs));
}

TEST(ParityDataset, RefusesBadIndicesAndLengths) {
  auto data = open_workbench();
  EXPECT_TRUE(throws_mentioning<std::out_of_range>(
      [&] {
        data->batch(Split::Validation, torch::tensor({0, 40}, torch::kLong));
      },
      {"40", "validation", "size 40"}));
  EXPECT_TRUE(throws_mentioning<std::invalid_argument>(
      [] {
        open_dataset("parity", {{"min_length", int64_t{5}}, {"max_length", int64_t{4}}});
      },
      {"parity", "min_length 5", "max_length 4"}));
  // A min_length alone above the format's default maximum (50).
  EXPECT_TRUE(throws_mentioning<std::invalid_argument>(
      [] { open_dataset("parity", {{"min_length", int64_t{60}}}); },
      {"min_length 60", "max_length 50"}));
}

}  // namespace
}  // namespace guidance::testing
