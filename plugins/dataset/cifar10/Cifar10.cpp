#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "guidance/api/ParamTable.h"
#include "guidance/api/PluginApi.h"
#include "plugins/dataset/common/DatasetSupport.h"
#include "plugins/dataset/common/ImageDataset.h"

namespace guidance::datasets {
namespace {

constexpr const char* kName = "cifar10";
constexpr int64_t kClasses = 10;
constexpr int64_t kChannels = 3;
constexpr int64_t kSide = 32;
constexpr int64_t kPixels = kChannels * kSide * kSide;
constexpr int64_t kRecord = 1 + kPixels;  // a label byte, then the red, green and blue planes

struct LabelledImages {
  torch::Tensor images;  // uint8 [N, 3, 32, 32]
  torch::Tensor labels;  // int64 [N]
};

LabelledImages read_batches(const std::string& directory, const std::vector<std::string>& names) {
  std::vector<torch::Tensor> records;
  for (const auto& name : names) {
    const std::string path = (std::filesystem::path(directory) / name).string();
    InputFile file = open_param_file("directory", path);
    const auto size = static_cast<int64_t>(file.size());
    if (size == 0 || size % kRecord != 0) {
      throw std::runtime_error(path + ": size " + std::to_string(size) +
                               " bytes is not a positive multiple of the " +
                               std::to_string(kRecord) + "-byte CIFAR-10 record");
    }
    const std::string bytes = file.read(file.size());
    torch::Tensor part = torch::empty({size / kRecord, kRecord}, torch::kUInt8);
    std::memcpy(part.data_ptr<uint8_t>(), bytes.data(), bytes.size());
    check_labels(part.select(1, 0).to(torch::kLong), kClasses, path);
    records.push_back(part);
  }
  torch::Tensor all = torch::cat(records);
  return {all.slice(1, 1).reshape({-1, kChannels, kSide, kSide}).contiguous(),
          all.select(1, 0).to(torch::kLong)};
}

// The plugin's parameters (cifar10_params() declares each), with their defaults.
struct Cifar10Options {
  std::string directory = "data/cifar-10-batches-bin";
  Carving carving{5000, 0};
  Normalisation normalisation{{0.4914, 0.4822, 0.4465}, {0.2470, 0.2435, 0.2616}};
};

const ParamTable<Cifar10Options>& cifar10_params() {
  static const ParamTable<Cifar10Options> table =
      ParamTable<Cifar10Options>()
          .add("directory", &Cifar10Options::directory,
               "folder holding data_batch_1.bin .. data_batch_5.bin and test_batch.bin")
          .add_all(&Cifar10Options::carving, carving_params())
          .add_all(&Cifar10Options::normalisation, normalisation_params());
  return table;
}

class Cifar10Plugin final : public DatasetPlugin {
 public:
  PluginInfo info() const override {
    return {kName, "1.0.0", "CIFAR-10, binary version: 32x32 colour images, 10 classes",
            cifar10_params().specs()};
  }

  std::shared_ptr<Dataset> open(const Params& params,
                                const DatasetContext& context) const override {
    const Cifar10Options options = cifar10_params().read(params);
    const std::string directory = resolve_path(context, options.directory);
    try {
      check_param_directory("directory", directory);
    } catch (const ParamError& error) {
      throw ParamError("directory", std::string(error.what()) +
                                        " (expected CIFAR-10's binary version: data_batch_1.bin "
                                        ".. data_batch_5.bin, test_batch.bin)");
    }
    LabelledImages train =
        read_batches(directory, {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                                 "data_batch_4.bin", "data_batch_5.bin"});
    LabelledImages test = read_batches(directory, {"test_batch.bin"});
    return std::make_shared<ImageDataset>(
        image_task(kName, {kChannels, kSide, kSide}, kClasses),
        carve_train_test(train.images, train.labels, test.images, test.labels, options.carving,
                         context.seed, kName),
        normalisation_from(options.normalisation, kChannels, kName));
  }
};

}  // namespace
}  // namespace guidance::datasets

GUIDANCE_PLUGIN_LIBRARY(registry) {
  registry.add(std::make_shared<guidance::datasets::Cifar10Plugin>());
}
