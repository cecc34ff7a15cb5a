#include <zlib.h>

#include <filesystem>
#include <set>

#include "tests/plugins/dataset/DatasetTestSupport.h"

namespace guidance::testing {
namespace {

constexpr double kMean = 0.2860;
constexpr double kStd = 0.3530;

std::string big_endian(uint32_t value) {
  return {static_cast<char>(value >> 24), static_cast<char>(value >> 16),
          static_cast<char>(value >> 8), static_cast<char>(value)};
}

// Image n has first pixel n (so tests can tell examples apart) and pixel p = (n + 3p) mod 256.
std::string idx_images(uint32_t count, uint32_t rows, uint32_t cols) {
  std::string bytes = big_endian(0x803) + big_endian(count) + big_endian(rows) + big_endian(cols);
  for (uint32_t n = 0; n < count; ++n) {
    for (uint32_t p = 0; p < rows * cols; ++p) bytes += static_cast<char>((n + 3 * p) % 256);
  }
  return bytes;
}

uint8_t label_of(uint32_t n) { return static_cast<uint8_t>((n * 7) % 10); }

std::string idx_labels(uint32_t count) {
  std::string bytes = big_endian(0x801) + big_endian(count);
  for (uint32_t n = 0; n < count; ++n) bytes += static_cast<char>(label_of(n));
  return bytes;
}

void write_gzip(const std::string& path, const std::string& bytes) {
  gzFile file = gzopen(path.c_str(), "wb");
  ASSERT_NE(file, nullptr);
  ASSERT_EQ(gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size())),
            static_cast<int>(bytes.size()));
  gzclose(file);
}

// Writes a small IDX set (train: `train` images, test: 5) of 4x5 images.
void write_idx_set(const std::string& directory, uint32_t train, bool gzipped) {
  const std::map<std::string, std::string> files{
      {"train-images-idx3-ubyte", idx_images(train, 4, 5)},
      {"train-labels-idx1-ubyte", idx_labels(train)},
      {"t10k-images-idx3-ubyte", idx_images(5, 4, 5)},
      {"t10k-labels-idx1-ubyte", idx_labels(5)}};
  std::filesystem::create_directories(directory);
  for (const auto& [name, bytes] : files) {
    if (gzipped) {
      write_gzip(directory + "/" + name + ".gz", bytes);
    } else {
      write_file(directory + "/" + name, bytes);
    }
  }
}

std::shared_ptr<Dataset> open_idx(const std::string& directory, int64_t validation_size,
                                  int64_t train_subset = 0, uint64_t seed = 7) {
  return open_dataset("fashion-mnist",
                      {{"directory", directory},
                       {"validation_size", validation_size},
                       {"train_subset", train_subset}},
                      seed);
}

// Recovers each example's number from its first pixel.
std::vector<int64_t> example_numbers(const Batch& batch) {
  torch::Tensor first = batch.inputs.select(1, 0).select(1, 0).select(1, 0);
  torch::Tensor numbers = ((first * kStd + kMean) * 255).round().to(torch::kLong);
  return {numbers.data_ptr<int64_t>(), numbers.data_ptr<int64_t>() + numbers.numel()};
}

TEST(FashionMnistDataset, ReadsPlainAndGzippedIdxAlike) {
  TemporaryDirectory dir;
  write_idx_set(dir.file("plain"), 12, false);
  write_idx_set(dir.file("packed"), 12, true);
  auto plain = open_idx(dir.file("plain"), 2);
  auto packed = open_idx(dir.file("packed"), 2);
  for (const auto& data : {plain, packed}) {
    EXPECT_EQ(data->task().input_kind, InputKind::Image);
    EXPECT_EQ(data->task().input_shape, (std::vector<int64_t>{1, 4, 5}));
    EXPECT_EQ(data->task().num_outputs, 10);
    EXPECT_EQ(data->task().measures, (std::vector<std::string>{"top1", "top5"}));
    EXPECT_EQ(data->size(Split::Train), 10);
    EXPECT_EQ(data->size(Split::Validation), 2);
    EXPECT_EQ(data->size(Split::Test), 5);
  }
  Batch test = whole_split(*plain, Split::Test);
  ASSERT_EQ(test.inputs.sizes(), (std::vector<int64_t>{5, 1, 4, 5}));
  ASSERT_EQ(test.inputs.scalar_type(), torch::kFloat);
  torch::Tensor pixels =
      (torch::arange(5).view({5, 1, 1}) + 3 * torch::arange(20).view({1, 4, 5})).remainder(256);
  torch::Tensor expected = (pixels.to(torch::kFloat) / 255 - kMean) / kStd;
  EXPECT_TRUE(tensors_close(test.inputs, expected.unsqueeze(1), 1e-5, 1e-5));
  EXPECT_TRUE(test.targets.equal(torch::tensor({0, 7, 4, 1, 8}, torch::kLong)));
  for (Split split : {Split::Train, Split::Validation, Split::Test}) {
    Batch a = whole_split(*plain, split);
    Batch b = whole_split(*packed, split);
    EXPECT_TRUE(a.inputs.equal(b.inputs)) << to_string(split);
    EXPECT_TRUE(a.targets.equal(b.targets)) << to_string(split);
  }
}

TEST(FashionMnistDataset, CarvesADisjointSeededValidationSplit) {
  TemporaryDirectory dir;
  write_idx_set(dir.path(), 60, false);
  auto data = open_idx(dir.path(), 15);
  ASSERT_EQ(data->size(Split::Train), 45);
  ASSERT_EQ(data->size(Split::Validation), 15);
  Batch train = whole_split(*data, Split::Train);
  Batch validation = whole_split(*data, Split::Validation);
  std::vector<int64_t> train_numbers = example_numbers(train);
  std::vector<int64_t> validation_numbers = example_numbers(validation);
  std::set<int64_t> all(train_numbers.begin(), train_numbers.end());
  all.insert(validation_numbers.begin(), validation_numbers.end());
  EXPECT_EQ(all.size(), 60u);
  EXPECT_EQ(*all.begin(), 0);
  EXPECT_EQ(*all.rbegin(), 59);
  for (size_t i = 0; i < train_numbers.size(); ++i) {
    EXPECT_EQ(train.targets[static_cast<int64_t>(i)].item<int64_t>(),
              label_of(static_cast<uint32_t>(train_numbers[i])));
  }
  EXPECT_EQ(example_numbers(whole_split(*open_idx(dir.path(), 15), Split::Validation)),
            validation_numbers);
  EXPECT_NE(example_numbers(whole_split(*open_idx(dir.path(), 15, 0, 8), Split::Validation)),
            validation_numbers);
}

TEST(FashionMnistDataset, SourcesAreTheExamplesRowsInTheFileTheyCameFrom) {
  TemporaryDirectory dir;
  write_idx_set(dir.path(), 60, false);
  auto data = open_idx(dir.path(), 15, 20);
  for (Split split : {Split::Train, Split::Validation, Split::Test}) {
    torch::Tensor indices = torch::arange(data->size(split)).flip(0);
    std::optional<ExampleSource> source = data->source(split, indices);
    ASSERT_TRUE(source) << to_string(split);
    EXPECT_EQ(source->part, split == Split::Test ? "test" : "train");
    // Example n of a file has first pixel n: the rows name the very examples batch() gives.
    std::vector<int64_t> rows(source->rows.data_ptr<int64_t>(),
                              source->rows.data_ptr<int64_t>() + source->rows.numel());
    EXPECT_EQ(rows, example_numbers(data->batch(split, indices))) << to_string(split);
  }
  EXPECT_THROW(data->source(Split::Validation, torch::tensor({15}, torch::kLong)),
               std::out_of_range);
}

TEST(FashionMnistDataset, TrainSubsetIsASeededPartOfWhatValidationLeaves) {
  TemporaryDirectory dir;
  write_idx_set(dir.path(), 60, false);
  auto data = open_idx(dir.path(), 10, 20);
  EXPECT_EQ(data->size(Split::Train), 20);
  EXPECT_EQ(data->size(Split::Validation), 10);
  std::vector<int64_t> subset = example_numbers(whole_split(*data, Split::Train));
  std::vector<int64_t> full = example_numbers(whole_split(*open_idx(dir.path(), 10), Split::Train));
  std::set<int64_t> full_set(full.begin(), full.end());
  for (int64_t n : subset) EXPECT_TRUE(full_set.count(n)) << n;
  EXPECT_EQ(std::set<int64_t>(subset.begin(), subset.end()).size(), 20u);
  EXPECT_NE(example_numbers(whole_split(*open_idx(dir.path(), 10, 20, 8), Split::Train)), subset);
  EXPECT_TRUE(throws_mentioning<std::invalid_argument>([&] { open_idx(dir.path(), 10, 51); },
                                                       {"train_subset 51", "50"}));
}

TEST(FashionMnistDataset, MalformedFilesAreNamed) {
  TemporaryDirectory dir;
  const std::string images = dir.file("train-images-idx3-ubyte");
  const std::string labels = dir.file("train-labels-idx1-ubyte");
  auto open = [&] { open_idx(dir.path(), 2); };

  write_idx_set(dir.path(), 12, false);
  std::string truncated = idx_images(12, 4, 5);
  write_file(images, truncated.substr(0, truncated.size() - 7));
  EXPECT_TRUE(throws_mentioning([&] { open(); }, {images, "truncated", "240", "233"}));

  // Sizes whose product is 2^64 (a 64-bit count would wrap to 0) are declared bytes the file lacks.
  write_idx_set(dir.path(), 12, false);
  write_file(images, big_endian(0x803) + big_endian(1u << 22) + big_endian(1u << 21) +
                         big_endian(1u << 21));
  EXPECT_TRUE(throws_mentioning(open, {images, "truncated", "4194304 x 2097152 x 2097152",
                                       "the file has 0"}));

  write_idx_set(dir.path(), 12, false);
  std::string bad_magic = idx_labels(12);
  bad_magic[3] = 0x03;
  write_file(labels, bad_magic);
  EXPECT_TRUE(throws_mentioning(open, {labels, "bad magic number 0x00000803"}));

  write_idx_set(dir.path(), 12, false);
  write_file(labels, idx_labels(11));
  EXPECT_TRUE(throws_mentioning(open, {images, labels, "12 images", "11 labels"}));

  write_idx_set(dir.path(), 12, false);
  std::string bad_label = idx_labels(12);
  bad_label.back() = 10;
  write_file(labels, bad_label);
  EXPECT_TRUE(throws_mentioning(open, {labels, "label 10"}));

  write_idx_set(dir.path(), 12, false);
  std::filesystem::remove(dir.file("t10k-labels-idx1-ubyte"));
  EXPECT_TRUE(throws_mentioning<ParamError>(open, {dir.file("t10k-labels-idx1-ubyte"), "no such file"}));

  EXPECT_TRUE(throws_mentioning<ParamError>([&] { open_idx(dir.file("absent"), 2); },
                                {dir.file("absent"), "no such directory"}));
}

TEST(FashionMnistDataset, TruncatedGzipIsNamed) {
  TemporaryDirectory dir;
  write_idx_set(dir.path(), 12, true);
  const std::string packed = dir.file("train-images-idx3-ubyte.gz");
  std::string bytes = read_file(packed);
  write_file(packed, bytes.substr(0, bytes.size() / 2));
  EXPECT_TRUE(throws_mentioning([&] { open_idx(dir.path(), 2); }, {packed}));
}

// A compressed file's size says nothing of what it inflates to: the sizes its header declares are
// bounded before the elements are allocated, and the data is never inflated past them.
TEST(FashionMnistDataset, CompressedSizesBeyondTheBoundAreRefusedBeforeReading) {
  TemporaryDirectory dir;
  write_idx_set(dir.path(), 12, true);
  const std::string packed = dir.file("train-images-idx3-ubyte.gz");
  write_gzip(packed, big_endian(0x803) + big_endian(1u << 16) + big_endian(1u << 10) +
                         big_endian(1u << 10));
  EXPECT_TRUE(throws_mentioning([&] { open_idx(dir.path(), 2); },
                                {packed, "65536 x 1024 x 1024", "more than the 8589934592"}));

  write_idx_set(dir.path(), 12, true);
  write_gzip(packed, idx_images(12, 4, 5) + std::string(1 << 20, '\0'));
  EXPECT_TRUE(throws_mentioning([&] { open_idx(dir.path(), 2); },
                                {packed, "1048576 unexpected bytes after the 240 bytes"}));
}

TEST(FashionMnistDataset, ExplicitFilesAndRelativePathsResolveAgainstTheBase) {
  TemporaryDirectory dir;
  write_idx_set(dir.file("set"), 12, true);
  auto data = open_dataset("fashion-mnist",
                           {{"directory", std::string("nowhere")},
                            {"train_images", std::string("set/train-images-idx3-ubyte.gz")},
                            {"train_labels", std::string("set/train-labels-idx1-ubyte.gz")},
                            {"test_images", std::string("set/t10k-images-idx3-ubyte.gz")},
                            {"test_labels", std::string("set/t10k-labels-idx1-ubyte.gz")},
                            {"validation_size", int64_t{0}}},
                           7, dir.path());
  EXPECT_EQ(data->size(Split::Train), 12);
  EXPECT_EQ(data->size(Split::Validation), 0);
}

TEST(FashionMnistDataset, OpensTheInstalledFashionMnist) {
  const std::string installed = "/usr/share/datasets/fashion-mnist";
  if (!std::filesystem::exists(installed)) GTEST_SKIP() << installed << " is not installed";
  auto data = open_dataset("fashion-mnist", {});
  EXPECT_EQ(data->task().input_shape, (std::vector<int64_t>{1, 28, 28}));
  EXPECT_EQ(data->size(Split::Train), 60000 - 5000);
  EXPECT_EQ(data->size(Split::Validation), 5000);
  EXPECT_EQ(data->size(Split::Test), 10000);
  Batch batch = batch_range(*data, Split::Train, 0, 2000);
  EXPECT_EQ(batch.inputs.sizes(), (std::vector<int64_t>{2000, 1, 28, 28}));
  // The documented mean and deviation normalise the real data to about zero mean, unit spread.
  EXPECT_NEAR(batch.inputs.mean().item<double>(), 0.0, 0.05);
  EXPECT_NEAR(batch.inputs.std().item<double>(), 1.0, 0.05);
  EXPECT_EQ(torch::bincount(batch.targets).size(0), 10);
}

}  // namespace
}  // namespace guidance::testing
