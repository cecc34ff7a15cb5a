#include <png.h>

#include <csetjmp>
#include <cstdio>
// jpeglib.h needs size_t and FILE declared before it.
#include <jpeglib.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "guidance/api/ParamTable.h"
#include "guidance/api/PluginApi.h"
#include "plugins/dataset/common/DatasetSupport.h"
#include "plugins/dataset/common/ImageDataset.h"
#include "plugins/dataset/common/SplitCarving.h"

namespace guidance::datasets {
namespace {

namespace fs = std::filesystem;

constexpr const char* kName = "image-folder";
/// ExampleSource::part of every split: rows count the images as open() reads them.
constexpr const char* kImagesPart = "images in reading order";

struct DecodedImage {
  int64_t height = 0;
  int64_t width = 0;
  std::vector<uint8_t> pixels;  // [height, width, channels], row-major
};

// An image's header may declare any size: larger ones are refused before the pixels are allocated.
constexpr int64_t kMaxImagePixels = int64_t{1} << 28;

void check_declared_size(const std::string& path, int64_t height, int64_t width) {
  if (height * width > kMaxImagePixels) {
    throw std::runtime_error(path + ": declares " + std::to_string(width) + "x" +
                             std::to_string(height) + " pixels, more than the " +
                             std::to_string(kMaxImagePixels) + " allowed");
  }
}

DecodedImage decode_png(const std::string& path, const std::string& bytes, int64_t channels) {
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&image, bytes.data(), bytes.size())) {
    throw std::runtime_error(path + ": cannot decode PNG: " + image.message);
  }
  image.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  try {
    check_declared_size(path, image.height, image.width);
  } catch (...) {
    png_image_free(&image);
    throw;
  }
  DecodedImage decoded{image.height, image.width, std::vector<uint8_t>(PNG_IMAGE_SIZE(image))};
  if (!png_image_finish_read(&image, nullptr, decoded.pixels.data(), 0, nullptr)) {
    const std::string reason = image.message;
    png_image_free(&image);
    throw std::runtime_error(path + ": cannot decode PNG: " + reason);
  }
  return decoded;
}

// libjpeg's default error handler exits the process; this one jumps back to the decoder, which
// must not let a C++ exception unwind through libjpeg's C frames.
struct JpegError {
  jpeg_error_mgr manager;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void on_jpeg_error(j_common_ptr info) {
  auto* error = reinterpret_cast<JpegError*>(info->err);
  (*info->err->format_message)(info, error->message);
  std::longjmp(error->jump, 1);
}

void ignore_jpeg_message(j_common_ptr) {}

// Everything modified after setjmp lives outside this frame (`out`, `error`) or is libjpeg's own
// state, which jpeg_destroy_decompress releases whichever way decoding ends.
bool decode_jpeg_into(const std::string& bytes, int64_t channels, DecodedImage& out,
                      JpegError& error, bool& too_large) {
  jpeg_decompress_struct info;
  info.err = jpeg_std_error(&error.manager);
  error.manager.error_exit = on_jpeg_error;
  error.manager.output_message = ignore_jpeg_message;
  if (setjmp(error.jump)) {
    jpeg_destroy_decompress(&info);
    return false;
  }
  jpeg_create_decompress(&info);
  jpeg_mem_src(&info, reinterpret_cast<const unsigned char*>(bytes.data()),
               static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&info, TRUE);
  info.out_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  if (int64_t{info.image_width} * info.image_height > kMaxImagePixels) {
    too_large = true;
    out.height = info.image_height;
    out.width = info.image_width;
    jpeg_destroy_decompress(&info);
    return false;
  }
  jpeg_start_decompress(&info);
  out.height = info.output_height;
  out.width = info.output_width;
  out.pixels.resize(static_cast<size_t>(out.height * out.width * channels));
  while (info.output_scanline < info.output_height) {
    JSAMPROW row = out.pixels.data() + static_cast<size_t>(info.output_scanline) *
                                           static_cast<size_t>(out.width * channels);
    jpeg_read_scanlines(&info, &row, 1);
  }
  jpeg_finish_decompress(&info);
  jpeg_destroy_decompress(&info);
  return true;
}

DecodedImage decode_jpeg(const std::string& path, const std::string& bytes, int64_t channels) {
  DecodedImage decoded;
  JpegError error{};
  bool too_large = false;
  if (!decode_jpeg_into(bytes, channels, decoded, error, too_large)) {
    if (too_large) check_declared_size(path, decoded.height, decoded.width);
    throw std::runtime_error(path + ": cannot decode JPEG: " + error.message);
  }
  return decoded;
}

// The content decides the decoder, so a JPEG saved under a .png name still loads.
DecodedImage decode(const std::string& path, int64_t channels) {
  const std::string bytes = open_param_file("root", path).read_all();
  const auto* head = reinterpret_cast<const unsigned char*>(bytes.data());
  if (bytes.size() >= 4 && head[0] == 0x89 && head[1] == 'P' && head[2] == 'N' && head[3] == 'G') {
    return decode_png(path, bytes, channels);
  }
  if (bytes.size() >= 3 && head[0] == 0xFF && head[1] == 0xD8 && head[2] == 0xFF) {
    return decode_jpeg(path, bytes, channels);
  }
  throw std::runtime_error(path + ": not a PNG or JPEG image");
}

// @return uint8 [channels, size, size], resized bilinearly.
torch::Tensor load_image(const std::string& path, int64_t channels, int64_t size) {
  DecodedImage decoded = decode(path, channels);
  if (decoded.height == 0 || decoded.width == 0) throw std::runtime_error(path + ": empty image");
  torch::Tensor image = torch::from_blob(decoded.pixels.data(),
                                         {decoded.height, decoded.width, channels}, torch::kUInt8)
                            .permute({2, 0, 1});
  if (decoded.height == size && decoded.width == size) return image.clone();
  torch::Tensor resized = torch::nn::functional::interpolate(
      image.unsqueeze(0).to(torch::kFloat), torch::nn::functional::InterpolateFuncOptions()
                                                .size(std::vector<int64_t>{size, size})
                                                .mode(torch::kBilinear)
                                                .align_corners(false));
  return resized.squeeze(0).round_().clamp_(0, 255).to(torch::kUInt8);
}

bool is_image_name(const fs::path& path) {
  std::string extension = path.extension().string();
  std::transform(extension.begin(), extension.end(), extension.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return extension == ".png" || extension == ".jpg" || extension == ".jpeg";
}

std::vector<fs::path> sorted_entries(const fs::path& folder, bool directories) {
  std::vector<fs::path> found;
  for (const auto& entry : fs::directory_iterator(folder)) {
    if (directories ? entry.is_directory()
                    : entry.is_regular_file() && is_image_name(entry.path())) {
      found.push_back(entry.path());
    }
  }
  std::sort(found.begin(), found.end());
  return found;
}

// Decoded images of every split, in one store the splits index into.
class Store {
 public:
  Store(int64_t channels, int64_t size) : channels_(channels), size_(size) {}

  // Loads <folder>/<class>/*; every class folder must be one of `classes`.
  std::vector<int64_t> load_split(const fs::path& folder, const std::vector<std::string>& classes) {
    std::vector<int64_t> rows;
    for (const auto& class_folder : sorted_entries(folder, true)) {
      const std::string name = class_folder.filename().string();
      const auto known = std::find(classes.begin(), classes.end(), name);
      if (known == classes.end()) {
        throw std::runtime_error(class_folder.string() +
                                 ": class folder not present in the training folder");
      }
      for (const auto& file : sorted_entries(class_folder, false)) {
        rows.push_back(static_cast<int64_t>(images_.size()));
        images_.push_back(load_image(file.string(), channels_, size_));
        labels_.push_back(known - classes.begin());
      }
    }
    return rows;
  }

  torch::Tensor images() const {
    return images_.empty() ? torch::empty({0, channels_, size_, size_}, torch::kUInt8)
                           : torch::stack(images_);
  }
  torch::Tensor labels() const { return index_tensor(labels_); }

 private:
  int64_t channels_;
  int64_t size_;
  std::vector<torch::Tensor> images_;
  std::vector<int64_t> labels_;
};

std::vector<std::string> class_names(const fs::path& train_folder) {
  std::vector<std::string> names;
  for (const auto& folder : sorted_entries(train_folder, true)) {
    if (sorted_entries(folder, false).empty()) {
      throw std::runtime_error(folder.string() + ": class folder holds no PNG or JPEG images");
    }
    names.push_back(folder.filename().string());
  }
  if (names.size() < 2) {
    throw std::runtime_error(train_folder.string() + ": found " + std::to_string(names.size()) +
                             " class folder(s), at least 2 are needed");
  }
  return names;
}

// A split with a folder of its own (split layout) is read from it; otherwise `fraction` of the
// training images are carved out for it, seeded.
std::vector<int64_t> own_or_carved(Store& store, const std::vector<fs::path>& candidates,
                                   const std::vector<std::string>& classes,
                                   std::vector<int64_t>& train_rows, int64_t carved_count,
                                   uint64_t seed, uint64_t stream) {
  for (const auto& folder : candidates) {
    if (fs::is_directory(folder)) return store.load_split(folder, classes);
  }
  Carved carved = carve(train_rows, carved_count, seed, stream);
  train_rows = std::move(carved.kept);
  return carved.taken;
}

// Each empty list is replaced by the value measured on the training images; a constant channel
// keeps a deviation of 1 so it is centred but not divided by zero.
Normalisation normalisation_for(const Normalisation& given, const ImageSplit& train,
                                int64_t channels) {
  Normalisation resolved = given;
  if (given.mean.empty() || given.std.empty()) {
    torch::Tensor pixels = train.images.index_select(0, train.rows)
                               .to(torch::kDouble)
                               .div_(255)
                               .transpose(0, 1)
                               .reshape({channels, -1});
    torch::Tensor mean = pixels.mean(1);
    torch::Tensor deviation = pixels.std(1, /*unbiased=*/false);
    deviation.masked_fill_(deviation == 0, 1.0);
    auto as_list = [](const torch::Tensor& values) {
      return std::vector<double>(values.data_ptr<double>(),
                                 values.data_ptr<double>() + values.numel());
    };
    if (given.mean.empty()) resolved.mean = as_list(mean);
    if (given.std.empty()) resolved.std = as_list(deviation.contiguous());
  }
  return normalisation_from(resolved, channels, kName);
}

// The plugin's parameters (image_folder_params() declares each), with their defaults.
struct ImageFolderOptions {
  std::string root;
  int64_t channels = 3;
  int64_t image_size = 32;
  double validation_fraction = 0.1;
  double test_fraction = 0.1;
  Normalisation normalisation;  // empty lists: measured on the training split
};

// `mean` and `std` are declared here rather than added from normalisation_params(), as their
// docs say what an empty list means.
const ParamTable<ImageFolderOptions>& image_folder_params() {
  using Options = ImageFolderOptions;
  static const std::string kMeasured = "; empty = measured on the training split";
  static const ParamTable<Options> table =
      ParamTable<Options>()
          .add("root", &Options::root, "the dataset folder")
          .mandatory()
          .add("channels", &Options::channels, "1 (grey) or 3 (RGB); images are converted")
          .between(1, 3)
          .add("image_size", &Options::image_size,
               "images are resized (bilinear) to this square side")
          .between(1, 4096)
          .add("validation_fraction", &Options::validation_fraction,
               "share of the training images carved out for validation when there is no val/ "
               "folder")
          .between(0, 1)
          .add("test_fraction", &Options::test_fraction,
               "share of the training images carved out for test when there is no test/ folder")
          .between(0, 1)
          .add_all(&Options::normalisation,
                   ParamTable<Normalisation>()
                       .add("mean", &Normalisation::mean, kMeanDoc + kMeasured)
                       .add("std", &Normalisation::std, kStdDoc + kMeasured));
  return table;
}

class ImageFolderPlugin final : public DatasetPlugin {
 public:
  PluginInfo info() const override {
    return {kName, "1.0.0",
            "PNG and JPEG images in one folder per class (root/<class>/ or "
            "root/{train,val,test}/<class>/)",
            image_folder_params().specs()};
  }

  std::shared_ptr<Dataset> open(const Params& params,
                                const DatasetContext& context) const override {
    const ImageFolderOptions options = image_folder_params().read(params);
    const fs::path root = resolve_path(context, options.root);
    const int64_t channels = options.channels;
    if (channels == 2) {
      throw std::invalid_argument("dataset 'image-folder': channels must be 1 or 3, not 2");
    }
    if (options.validation_fraction + options.test_fraction >= 1) {
      throw std::invalid_argument(
          "dataset 'image-folder': validation_fraction + test_fraction "
          "must be below 1 so that some images are left for training");
    }
    check_param_directory("root", root.string());
    const bool split_layout = fs::is_directory(root / "train");
    const fs::path train_folder = split_layout ? root / "train" : root;
    const std::vector<std::string> classes = class_names(train_folder);
    const int64_t image_size = options.image_size;

    Store store(channels, image_size);
    std::vector<int64_t> train_rows = store.load_split(train_folder, classes);
    const auto total = static_cast<double>(train_rows.size());
    const auto count = [&](double fraction) {
      return static_cast<int64_t>(std::floor(total * fraction));
    };
    const std::vector<fs::path> no_folders;
    std::vector<int64_t> test_rows = own_or_carved(
        store, split_layout ? std::vector<fs::path>{root / "test"} : no_folders, classes,
        train_rows, count(options.test_fraction), context.seed, streams::kTestCarve);
    std::vector<int64_t> validation_rows = own_or_carved(
        store, split_layout ? std::vector<fs::path>{root / "val", root / "validation"} : no_folders,
        classes, train_rows, count(options.validation_fraction), context.seed,
        streams::kValidationCarve);

    const torch::Tensor images = store.images();
    const torch::Tensor labels = store.labels();
    // Rows count the images in the order they were read (docs/datasets.md).
    std::array<ImageSplit, 3> splits{split_of(images, labels, train_rows, kImagesPart),
                                     split_of(images, labels, validation_rows, kImagesPart),
                                     split_of(images, labels, test_rows, kImagesPart)};
    const auto classes_count = static_cast<int64_t>(classes.size());
    return std::make_shared<ImageDataset>(
        image_task(kName, {channels, image_size, image_size}, classes_count), splits,
        normalisation_for(options.normalisation, splits[0], channels));
  }
};

}  // namespace
}  // namespace guidance::datasets

GUIDANCE_PLUGIN_LIBRARY(registry) {
  registry.add(std::make_shared<guidance::datasets::ImageFolderPlugin>());
}
