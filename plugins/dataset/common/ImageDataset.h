#pragma once

#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "guidance/api/Dataset.h"
#include "guidance/api/ParamTable.h"
#include "guidance/api/Task.h"
#include "plugins/dataset/common/DatasetSupport.h"
#include "plugins/dataset/common/SplitCarving.h"

namespace guidance::datasets {

/// Per-channel normalisation of 8-bit pixels: x = (pixel / 255 - mean[c]) / std[c].
struct Normalisation {
  std::vector<double> mean;  ///< one value per channel
  std::vector<double> std;   ///< one value per channel, each > 0
};

/// The docs of the `mean` and `std` parameters.
inline constexpr const char* kMeanDoc =
    "per-channel mean subtracted from pixels scaled to [0, 1] (one value for all channels, or one "
    "per channel)";
inline constexpr const char* kStdDoc =
    "per-channel standard deviation the centred pixels are divided by";

/// @return the `mean` and `std` parameters, bound to Normalisation; a dataset adds them with
/// ParamTable::add_all, its options holding its usual values as defaults.
inline const ParamTable<Normalisation>& normalisation_params() {
  static const ParamTable<Normalisation> table = ParamTable<Normalisation>()
                                                     .add("mean", &Normalisation::mean, kMeanDoc)
                                                     .add("std", &Normalisation::std, kStdDoc);
  return table;
}

/// @return `given` (the values of normalisation_params()) for images of `channels` channels: a
/// single value applies to every channel. Throws std::invalid_argument naming the dataset and the
/// parameter when a list has another length or a deviation is not positive.
inline Normalisation normalisation_from(const Normalisation& given, int64_t channels,
                                        const std::string& dataset) {
  auto per_channel = [&](const std::string& name, const std::vector<double>& values_given) {
    std::vector<double> values = values_given;
    if (values.size() == 1) values.assign(static_cast<size_t>(channels), values.front());
    if (static_cast<int64_t>(values.size()) != channels) {
      throw std::invalid_argument("dataset '" + dataset + "': parameter '" + name +
                                  "' needs 1 or " + std::to_string(channels) + " values, got " +
                                  std::to_string(values_given.size()));
    }
    return values;
  };
  Normalisation normalisation{per_channel("mean", given.mean), per_channel("std", given.std)};
  for (double deviation : normalisation.std) {
    if (!(deviation > 0)) {
      throw std::invalid_argument("dataset '" + dataset +
                                  "': every value of parameter 'std' must be positive");
    }
  }
  return normalisation;
}

/// Checks that every label is a class index.
/// @param labels int64 [N]
/// @param file the file the labels came from, named in the error
inline void check_labels(const torch::Tensor& labels, int64_t classes, const std::string& file) {
  if (labels.numel() == 0) return;
  torch::Tensor bad = (labels < 0).logical_or(labels >= classes).nonzero();
  if (bad.size(0) > 0) {
    int64_t at = bad[0][0].item<int64_t>();
    throw std::runtime_error(file + ": label " + std::to_string(labels[at].item<int64_t>()) +
                             " of example " + std::to_string(at) + " is not a class index below " +
                             std::to_string(classes));
  }
}

/// @return top1, and top5 when there are at least 5 classes.
inline std::vector<std::string> classification_measures(int64_t classes) {
  std::vector<std::string> names{measures::kTop1};
  if (classes >= 5) names.emplace_back(measures::kTop5);
  return names;
}

/// @return the task of classifying images of shape {channels, height, width} into `classes`.
inline TaskSpec image_task(std::string name, std::vector<int64_t> shape, int64_t classes) {
  TaskSpec task;
  task.name = std::move(name);
  task.input_kind = InputKind::Image;
  task.input_shape = std::move(shape);
  task.target_kind = TargetKind::Class;
  task.num_outputs = classes;
  task.measures = classification_measures(classes);
  return task;
}

/// The examples of one split, as rows of storage that splits may share (validation carved out of
/// train reads the same tensors).
struct ImageSplit {
  torch::Tensor images;  ///< uint8 [M, C, H, W]
  torch::Tensor labels;  ///< int64 [M]
  torch::Tensor rows;    ///< int64 [N]: example i of the split is images[rows[i]]
  std::string part;      ///< what `rows` index in the data read (ExampleSource::part)
};

/// @return a split over the given rows of `images` and `labels`, which hold `part` of the data.
inline ImageSplit split_of(const torch::Tensor& images, const torch::Tensor& labels,
                           const std::vector<int64_t>& rows, std::string part) {
  return ImageSplit{images, labels, index_tensor(rows), std::move(part)};
}

/// How a dataset shipped as train and test sets makes its validation and train splits: the
/// parameters carving_params() declares.
struct Carving {
  int64_t validation_size = 0;  ///< training examples set aside as the validation split
  int64_t train_subset = 0;     ///< train on only this many of those left; 0 = all
};

/// @return the `validation_size` and `train_subset` parameters, bound to Carving; a dataset adds
/// them with ParamTable::add_all, its options holding its default validation size.
inline const ParamTable<Carving>& carving_params() {
  static const ParamTable<Carving> table =
      ParamTable<Carving>()
          .add("validation_size", &Carving::validation_size,
               "training examples set aside (seeded) as the validation split")
          .at_least(0)
          .add("train_subset", &Carving::train_subset,
               "train on only this many examples (seeded choice among those left after carving "
               "validation); 0 = all")
          .at_least(0);
  return table;
}

/// The parts of a dataset shipped as train and test sets, as ExampleSource names them.
inline constexpr const char* kTrainPart = "train";
inline constexpr const char* kTestPart = "test";

/// Makes the three splits of a dataset shipped as train and test sets: `carving.validation_size`
/// training examples are carved out (seeded) as the validation split, then, if
/// `carving.train_subset` is positive, that many of the remaining training examples are kept
/// (seeded).
/// Throws std::invalid_argument naming the dataset when the sizes ask for more than there is.
inline std::array<ImageSplit, 3> carve_train_test(const torch::Tensor& train_images,
                                                  const torch::Tensor& train_labels,
                                                  const torch::Tensor& test_images,
                                                  const torch::Tensor& test_labels,
                                                  const Carving& carving, uint64_t seed,
                                                  const std::string& dataset) {
  const int64_t available = train_images.size(0);
  const int64_t validation_size = carving.validation_size;
  if (validation_size >= available) {
    throw std::invalid_argument("dataset '" + dataset + "': validation_size " +
                                std::to_string(validation_size) + " leaves no training examples (" +
                                std::to_string(available) + " available)");
  }
  Carved validation = carve(all_rows(available), validation_size, seed, streams::kValidationCarve);
  std::vector<int64_t> train_rows = std::move(validation.kept);
  const int64_t subset = carving.train_subset;
  if (subset > static_cast<int64_t>(train_rows.size())) {
    throw std::invalid_argument(
        "dataset '" + dataset + "': train_subset " + std::to_string(subset) + " exceeds the " +
        std::to_string(train_rows.size()) + " training examples left after carving validation");
  }
  if (subset > 0) train_rows = carve(train_rows, subset, seed, streams::kTrainSubset).taken;
  return {split_of(train_images, train_labels, train_rows, kTrainPart),
          split_of(train_images, train_labels, validation.taken, kTrainPart),
          split_of(test_images, test_labels, all_rows(test_images.size(0)), kTestPart)};
}

/// A classification dataset of 8-bit images held in memory, normalised per batch.
class ImageDataset final : public Dataset {
 public:
  /// @param splits train, validation and test, in that order
  ImageDataset(TaskSpec task, std::array<ImageSplit, 3> splits, const Normalisation& normalisation)
      : task_(std::move(task)),
        splits_(std::move(splits)),
        mean_(torch::tensor(normalisation.mean, torch::kFloat).view({1, -1, 1, 1})),
        std_(torch::tensor(normalisation.std, torch::kFloat).view({1, -1, 1, 1})) {}

  const TaskSpec& task() const override { return task_; }

  int64_t size(Split split) const override { return of(split).rows.size(0); }

  /// @return inputs float [B, C, H, W], normalised; targets int64 [B].
  Batch batch(Split split, const torch::Tensor& indices) const override {
    const ImageSplit& part = of(split);
    std::vector<int64_t> wanted = checked_indices(indices, part.rows.size(0), split, task_.name);
    torch::Tensor rows = part.rows.index_select(0, index_tensor(wanted));
    Batch batch;
    batch.inputs =
        part.images.index_select(0, rows).to(torch::kFloat).div_(255.0).sub_(mean_).div_(std_);
    batch.targets = part.labels.index_select(0, rows);
    return batch;
  }

  /// @return the examples' rows in the train or test set read (validation is carved from train).
  std::optional<ExampleSource> source(Split split, const torch::Tensor& indices) const override {
    const ImageSplit& part = of(split);
    std::vector<int64_t> wanted = checked_indices(indices, part.rows.size(0), split, task_.name);
    return ExampleSource{part.part, part.rows.index_select(0, index_tensor(wanted))};
  }

 private:
  const ImageSplit& of(Split split) const { return splits_[static_cast<size_t>(split)]; }

  TaskSpec task_;
  std::array<ImageSplit, 3> splits_;
  torch::Tensor mean_;
  torch::Tensor std_;
};

}  // namespace guidance::datasets
