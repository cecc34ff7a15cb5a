#include <filesystem>
#include <set>

#include "tests/plugins/dataset/DatasetTestSupport.h"
#include "tests/support/DataFiles.h"

namespace guidance::testing {
namespace {

namespace fs = std::filesystem;

std::shared_ptr<Dataset> open_folder(const std::string& root, uint64_t seed = 7,
                                     std::map<std::string, ParamValue> overrides = {}) {
  overrides.emplace("root", root);
  overrides.emplace("image_size", int64_t{8});
  overrides.emplace("validation_fraction", 0.2);
  overrides.emplace("test_fraction", 0.2);
  overrides.emplace("mean", std::vector<double>{0.0});
  overrides.emplace("std", std::vector<double>{1.0});
  return open_dataset("image-folder", overrides, seed);
}

// Recovers image numbers from the red channel, which the unit normalisation leaves as red / 255.
std::vector<int64_t> image_numbers(const Batch& batch) {
  torch::Tensor red = batch.inputs.select(1, 0).mean({1, 2}) * 255;
  torch::Tensor numbers = ((red - 5) / 15).round().to(torch::kLong);
  return {numbers.data_ptr<int64_t>(), numbers.data_ptr<int64_t>() + numbers.numel()};
}

TEST(ImageFolderDataset, ClassesAreSortedFolderNamesAndSplitsAreSeeded) {
  TemporaryDirectory dir;
  write_flat_folder(dir.path());
  auto data = open_folder(dir.path());
  EXPECT_EQ(data->task().input_shape, (std::vector<int64_t>{3, 8, 8}));
  EXPECT_EQ(data->task().num_outputs, 3);
  EXPECT_EQ(data->task().measures, std::vector<std::string>{"top1"});
  EXPECT_EQ(data->size(Split::Train), 9);
  EXPECT_EQ(data->size(Split::Validation), 3);
  EXPECT_EQ(data->size(Split::Test), 3);
  std::set<int64_t> seen;
  for (Split split : {Split::Train, Split::Validation, Split::Test}) {
    Batch batch = whole_split(*data, split);
    ASSERT_EQ(batch.inputs.size(2), 8);
    std::vector<int64_t> numbers = image_numbers(batch);
    for (size_t i = 0; i < numbers.size(); ++i) {
      const auto b = static_cast<int64_t>(i);
      seen.insert(numbers[i]);
      EXPECT_EQ(batch.targets[b].item<int64_t>(), numbers[i] / 5) << "image " << numbers[i];
      const double tolerance = numbers[i] < 10 ? 1e-6 : 3.0 / 255;  // JPEG is lossy
      const double red = (15.0 * static_cast<double>(numbers[i]) + 5) / 255;
      EXPECT_TRUE(tensors_close(batch.inputs[b][0], torch::full({8, 8}, red), 0, tolerance));
      EXPECT_TRUE(
          tensors_close(batch.inputs[b][1], torch::full({8, 8}, 100.0 / 255), 0, tolerance));
    }
  }
  EXPECT_EQ(seen.size(), 15u);
  const auto validation = image_numbers(whole_split(*data, Split::Validation));
  EXPECT_EQ(image_numbers(whole_split(*open_folder(dir.path()), Split::Validation)), validation);
  EXPECT_NE(image_numbers(whole_split(*open_folder(dir.path(), 8), Split::Validation)), validation);
}

TEST(ImageFolderDataset, ConvertsChannelsAndResizesBilinearly) {
  TemporaryDirectory dir;
  std::vector<uint8_t> halves;
  for (int y = 0; y < 16; ++y) {
    for (int x = 0; x < 16; ++x) halves.push_back(x < 8 ? 0 : 255);
  }
  write_png(dir.file("a/halves.png"), 16, 16, 1, halves);
  write_png(dir.file("b/grey.png"), 16, 16, 3, solid(16, 16, {90, 90, 90}));
  auto opened = [&](int64_t channels) {
    return open_folder(dir.path(), 7,
                       {{"channels", channels},
                        {"image_size", int64_t{4}},
                        {"validation_fraction", 0.0},
                        {"test_fraction", 0.0}});
  };
  Batch rgb = whole_split(*opened(3), Split::Train);
  ASSERT_EQ(rgb.inputs.sizes(), (std::vector<int64_t>{2, 3, 4, 4}));
  // Sampling at source columns 1.5, 5.5, 9.5 and 13.5 never mixes the two halves.
  torch::Tensor row = torch::tensor({0.0, 0.0, 1.0, 1.0});
  EXPECT_TRUE(tensors_close(rgb.inputs[0], row.expand({3, 4, 4})));
  Batch grey = whole_split(*opened(1), Split::Train);
  ASSERT_EQ(grey.inputs.sizes(), (std::vector<int64_t>{2, 1, 4, 4}));
  EXPECT_TRUE(tensors_close(grey.inputs[1], torch::full({1, 4, 4}, 90.0 / 255), 0, 1.5 / 255));
}

TEST(ImageFolderDataset, SplitLayoutUsesItsFoldersAndCarvesAMissingValidation) {
  TemporaryDirectory dir;
  for (int n = 0; n < 8; ++n) {
    const std::string name = (n % 2 ? "b/" : "a/") + std::to_string(n) + ".png";
    write_png(dir.file("train/" + name), 8, 8, 3,
              solid(8, 8, {static_cast<uint8_t>(15 * n + 5), 100, 7}));
  }
  write_png(dir.file("test/b/x.png"), 8, 8, 3, solid(8, 8, {200, 100, 7}));
  auto data = open_folder(dir.path(), 7, {{"validation_fraction", 0.25}});
  EXPECT_EQ(data->size(Split::Train), 6);
  EXPECT_EQ(data->size(Split::Validation), 2);
  EXPECT_EQ(data->size(Split::Test), 1);
  EXPECT_TRUE(whole_split(*data, Split::Test).targets.equal(torch::tensor({1}, torch::kLong)));

  write_png(dir.file("val/a/y.png"), 8, 8, 3, solid(8, 8, {20, 100, 7}));
  EXPECT_EQ(open_folder(dir.path(), 7, {{"validation_fraction", 0.25}})->size(Split::Validation),
            1);

  write_png(dir.file("test/c/z.png"), 8, 8, 3, solid(8, 8, {20, 100, 7}));
  EXPECT_TRUE(throws_mentioning([&] { open_folder(dir.path()); },
                                {dir.file("test/c"), "not present in the training folder"}));
}

TEST(ImageFolderDataset, MeasuresNormalisationOnTheTrainingSplitWhenNoneIsGiven) {
  TemporaryDirectory dir;
  write_flat_folder(dir.path());
  // Only the lossless PNG classes, so that green is exactly constant.
  fs::remove_all(dir.file("cat"));
  auto data =
      open_folder(dir.path(), 7, {{"mean", std::vector<double>{}}, {"std", std::vector<double>{}}});
  Batch train = whole_split(*data, Split::Train);
  torch::Tensor red = train.inputs.select(1, 0);
  EXPECT_NEAR(red.mean().item<double>(), 0.0, 1e-5);
  EXPECT_NEAR(red.std(/*unbiased=*/false).item<double>(), 1.0, 1e-4);
  // Green is constant: centred, not divided by a zero deviation.
  EXPECT_TRUE(tensors_close(train.inputs.select(1, 1), torch::zeros_like(red), 0, 1e-5));
}

TEST(ImageFolderDataset, BadFilesAndFoldersAreNamed) {
  TemporaryDirectory dir;
  write_flat_folder(dir.path());
  write_file(dir.file("bee/broken.png"), "this is not a PNG");
  EXPECT_TRUE(throws_mentioning([&] { open_folder(dir.path()); },
                                {dir.file("bee/broken.png"), "not a PNG or JPEG"}));
  std::string png = read_file(dir.file("ant/image0.png"));
  write_file(dir.file("bee/broken.png"), png.substr(0, png.size() / 2));
  EXPECT_TRUE(throws_mentioning([&] { open_folder(dir.path()); },
                                {dir.file("bee/broken.png"), "cannot decode PNG"}));
  fs::remove(dir.file("bee/broken.png"));
  std::string jpeg = read_file(dir.file("cat/image10.JPG"));
  write_file(dir.file("cat/image10.JPG"), jpeg.substr(0, 40));
  EXPECT_TRUE(throws_mentioning([&] { open_folder(dir.path()); },
                                {dir.file("cat/image10.JPG"), "cannot decode JPEG"}));
  EXPECT_TRUE(throws_mentioning<ParamError>([&] { open_folder(dir.file("absent")); },
                                {dir.file("absent"), "no such directory"}));
}

}  // namespace
}  // namespace guidance::testing
