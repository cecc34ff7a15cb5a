#include <filesystem>

#include "tests/plugins/dataset/DatasetTestSupport.h"
#include "tests/support/DataFiles.h"

namespace guidance::testing {
namespace {

const std::vector<double> kMean{0.4914, 0.4822, 0.4465};
const std::vector<double> kStd{0.2470, 0.2435, 0.2616};

std::shared_ptr<Dataset> open_cifar(const std::string& directory, int64_t validation_size = 2) {
  return open_dataset("cifar10", {{"directory", directory}, {"validation_size", validation_size}});
}

torch::Tensor expected_images(int first, int count) {
  torch::Tensor pixels =
      (torch::arange(first, first + count).view({count, 1}) + torch::arange(3072).view({1, 3072}))
          .remainder(256)
          .to(torch::kFloat)
          .div(255)
          .view({count, 3, 32, 32});
  return (pixels - torch::tensor(kMean, torch::kFloat).view({1, 3, 1, 1})) /
         torch::tensor(kStd, torch::kFloat).view({1, 3, 1, 1});
}

TEST(Cifar10Dataset, ReadsChannelMajorRecords) {
  TemporaryDirectory dir;
  write_cifar(dir.path());
  auto data = open_cifar(dir.path());
  EXPECT_EQ(data->task().input_shape, (std::vector<int64_t>{3, 32, 32}));
  EXPECT_EQ(data->task().num_outputs, 10);
  EXPECT_EQ(data->task().measures, (std::vector<std::string>{"top1", "top5"}));
  EXPECT_EQ(data->size(Split::Train), 8);
  EXPECT_EQ(data->size(Split::Validation), 2);
  EXPECT_EQ(data->size(Split::Test), 3);
  Batch test = whole_split(*data, Split::Test);
  EXPECT_TRUE(tensors_close(test.inputs, expected_images(100, 3), 1e-5, 1e-5));
  EXPECT_TRUE(test.targets.equal(torch::tensor({0, 3, 6}, torch::kLong)));

  auto full = open_cifar(dir.path(), 0);
  Batch train = whole_split(*full, Split::Train);
  EXPECT_TRUE(tensors_close(train.inputs, expected_images(0, 10), 1e-5, 1e-5));
  EXPECT_TRUE(train.targets.equal(torch::tensor({0, 3, 6, 9, 2, 5, 8, 1, 4, 7}, torch::kLong)));
}

TEST(Cifar10Dataset, MalformedAndMissingFilesAreNamed) {
  TemporaryDirectory dir;
  write_cifar(dir.path());
  const std::string third = dir.file("data_batch_3.bin");
  write_file(third, cifar_records(4, 2) + "x");
  EXPECT_TRUE(throws_mentioning([&] { open_cifar(dir.path()); }, {third, "6147", "3073"}));

  std::string bad_label = cifar_records(4, 2);
  bad_label[3073] = 11;
  write_file(third, bad_label);
  EXPECT_TRUE(throws_mentioning([&] { open_cifar(dir.path()); }, {third, "label 11"}));

  std::filesystem::remove(third);
  EXPECT_TRUE(throws_mentioning<ParamError>([&] { open_cifar(dir.path()); }, {third, "no such file"}));

  EXPECT_TRUE(throws_mentioning<ParamError>([&] { open_cifar(dir.file("absent")); },
                                {dir.file("absent"), "no such directory"}));
}

TEST(Cifar10Dataset, DefaultDirectoryIsResolvedAgainstTheBase) {
  TemporaryDirectory dir;
  write_cifar(dir.file("data/cifar-10-batches-bin"));
  auto plugin = built_plugins().dataset("cifar10");
  Params params = defaults_of(plugin->info().params);
  params.set("validation_size", int64_t{1});
  auto data = plugin->open(params, DatasetContext{3, dir.path()});
  EXPECT_EQ(data->size(Split::Train), 9);
}

}  // namespace
}  // namespace guidance::testing
