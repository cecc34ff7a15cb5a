// Example plugin: a tiny synthetic image task. Each 8×8 image holds one Gaussian blob, placed in
// one of its four quadrants; the class is the XOR of "lower half" and "right half", so no single
// pixel or linear read-out solves it and a hidden layer must.
//
// A dataset plugin is a factory whose open() returns the dataset for validated parameters. The
// dataset describes its task (what architectures size themselves for, which measures the host
// reports), the size of each split, and serves batches by index. Batches must be a pure function
// of the split, the indices and DatasetContext::seed: resume, sweeps and the fixed evaluation
// subsets rely on it. This one is small enough to draw every example at open().
#include <array>
#include <stdexcept>
#include <string>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "guidance/api/ParamTable.h"
#include "guidance/api/PluginApi.h"

namespace {

const char* const kName = "example-xor-blobs";
constexpr int64_t kSide = 8;

// The examples of one split: images [size, 1, kSide, kSide] and classes [size].
struct Examples {
  torch::Tensor images;
  torch::Tensor classes;
};

// Draws `size` examples from `generator` alone (never the global torch generator).
Examples draw(int64_t size, double noise, at::Generator generator) {
  torch::Tensor quadrant = torch::randint(0, 2, {size, 2}, generator);  // (lower, right)
  // The blob's centre: its quadrant's centre, moved by up to one pixel either way.
  torch::Tensor centre = quadrant.to(torch::kFloat) * (kSide / 2) + (kSide / 4 - 0.5) +
                         (torch::rand({size, 2}, generator) * 2 - 1);
  torch::Tensor coordinates = torch::arange(kSide, torch::kFloat);
  torch::Tensor rows = coordinates.view({1, kSide, 1}) - centre.select(1, 0).view({size, 1, 1});
  torch::Tensor columns = coordinates.view({1, 1, kSide}) - centre.select(1, 1).view({size, 1, 1});
  torch::Tensor blob = torch::exp(-(rows.square() + columns.square()) / 2);
  torch::Tensor images = blob + noise * torch::randn({size, kSide, kSide}, generator);
  return {images.unsqueeze(1), quadrant.select(1, 0).ne(quadrant.select(1, 1)).to(torch::kLong)};
}

class XorBlobs : public guidance::Dataset {
 public:
  XorBlobs(const std::array<int64_t, 3>& sizes, double noise, uint64_t seed) {
    task_.name = kName;
    task_.input_kind = guidance::InputKind::Image;
    task_.input_shape = {1, kSide, kSide};
    task_.target_kind = guidance::TargetKind::Class;
    task_.num_outputs = 2;
    task_.measures = {guidance::measures::kTop1};  // the first measure picks the best checkpoint
    // Each split has its own generator, seeded by the run's data seed and the split, so the test
    // set stays the same when train_size changes.
    for (guidance::Split split :
         {guidance::Split::Train, guidance::Split::Validation, guidance::Split::Test}) {
      const auto slot = static_cast<size_t>(split);
      at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(seed + slot);
      splits_[slot] = draw(sizes[slot], noise, generator);
    }
  }

  const guidance::TaskSpec& task() const override { return task_; }

  int64_t size(guidance::Split split) const override {
    return splits_[static_cast<size_t>(split)].classes.size(0);
  }

  // The examples at `indices`, in that order, on the CPU. An index outside the split is a bug in
  // the caller, refused with a message that names the dataset.
  guidance::Batch batch(guidance::Split split, const torch::Tensor& indices) const override {
    const Examples& examples = splits_[static_cast<size_t>(split)];
    if (indices.numel() > 0 &&
        (indices.min().item<int64_t>() < 0 || indices.max().item<int64_t>() >= size(split))) {
      throw std::out_of_range(std::string(kName) + ": an index is outside the " +
                              guidance::to_string(split) + " split of " +
                              std::to_string(size(split)) + " examples");
    }
    guidance::Batch batch;
    batch.inputs = examples.images.index_select(0, indices);
    batch.targets = examples.classes.index_select(0, indices);
    return batch;  // image tasks leave mask and target_mask undefined
  }

  // source() keeps its default, nothing: generated examples lie in no file a user could open
  // again. A dataset that reads files overrides it to give each example's row in its file.

 private:
  guidance::TaskSpec task_;
  std::array<Examples, 3> splits_;  // indexed by Split
};

// The plugin's parameters, declared once (see guidance/api/ParamTable.h).
struct XorBlobsOptions {
  int64_t train_size = 1024;
  int64_t validation_size = 256;
  int64_t test_size = 256;
  double noise = 0.1;
};

const guidance::ParamTable<XorBlobsOptions>& xor_blobs_params() {
  using Options = XorBlobsOptions;
  static const guidance::ParamTable<Options> table =
      guidance::ParamTable<Options>()
          .add("train_size", &Options::train_size, "examples in the train split")
          .between(1, 1000000)
          .add("validation_size", &Options::validation_size,
               "examples in the validation split (0: none)")
          .between(0, 1000000)
          .add("test_size", &Options::test_size, "examples in the test split")
          .between(0, 1000000)
          .add("noise", &Options::noise, "standard deviation of the pixel noise")
          .between(0.0, 10.0);
  return table;
}

class XorBlobsPlugin : public guidance::DatasetPlugin {
 public:
  guidance::PluginInfo info() const override {
    return {kName, "1.0.0", "example: 1x8x8 images of a blob; class = XOR of its quadrant's halves",
            xor_blobs_params().specs()};
  }

  std::shared_ptr<guidance::Dataset> open(const guidance::Params& params,
                                          const guidance::DatasetContext& context) const override {
    const XorBlobsOptions options = xor_blobs_params().read(params);
    return std::make_shared<XorBlobs>(
        std::array<int64_t, 3>{options.train_size, options.validation_size, options.test_size},
        options.noise, context.seed);
  }
};

}  // namespace

GUIDANCE_PLUGIN_LIBRARY(registry) { registry.add(std::make_shared<XorBlobsPlugin>()); }
