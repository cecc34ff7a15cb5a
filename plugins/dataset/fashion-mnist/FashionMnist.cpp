#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
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

constexpr const char* kName = "fashion-mnist";
constexpr uint8_t kUnsignedByte = 0x08;

// Reads an IDX file through zlib, which passes files that are not gzip-compressed through
// unchanged, so one reader serves both the Debian package's .gz files and unpacked ones.
class IdxStream {
 public:
  IdxStream(const std::string& param, const std::string& path)
      : file_(open_param_file(param, path)), stream_(open_stream(file_)) {}
  ~IdxStream() { gzclose(stream_); }
  IdxStream(const IdxStream&) = delete;
  IdxStream& operator=(const IdxStream&) = delete;

  /// @return the bytes read into `into`, fewer than `count` only at the end of the data.
  uint64_t read(void* into, uint64_t count) {
    uint64_t done = 0;
    while (done < count) {
      const auto chunk = static_cast<unsigned>(std::min<uint64_t>(count - done, 1u << 30));
      const int got = gzread(stream_, static_cast<char*>(into) + done, chunk);
      if (got < 0) {
        int code = 0;
        throw std::runtime_error(file_.path() + ": cannot be decompressed: " +
                                 gzerror(stream_, &code));
      }
      if (got == 0) break;
      done += static_cast<uint64_t>(got);
    }
    return done;
  }

  /// @return the bytes left, counted up to `limit` (a gzip bomb is not inflated to its end).
  uint64_t remaining(uint64_t limit) {
    char buffer[1 << 16];
    uint64_t left = 0;
    while (left <= limit) {
      const uint64_t got = read(buffer, sizeof buffer);
      if (got == 0) break;
      left += got;
    }
    return left;
  }

  /// Whether the file is read as it is (not compressed); valid after the first read.
  bool plain() const { return gzdirect(stream_) == 1; }
  uint64_t file_size() const { return file_.size(); }

 private:
  static gzFile open_stream(const InputFile& file) {
    const int copy = ::dup(file.descriptor());  // gzclose closes its own descriptor
    gzFile stream = copy < 0 ? nullptr : gzdopen(copy, "rb");
    if (stream == nullptr) {
      if (copy >= 0) ::close(copy);
      throw std::runtime_error(file.path() + ": cannot be opened for reading");
    }
    return stream;
  }

  InputFile file_;
  gzFile stream_;
};

std::string hex32(uint32_t value) {
  char text[11];
  std::snprintf(text, sizeof text, "0x%08x", value);
  return text;
}

uint32_t big_endian32(const std::string& bytes, size_t at) {
  const auto* b = reinterpret_cast<const unsigned char*>(bytes.data()) + at;
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | uint32_t{b[3]};
}

// An IDX file: a big-endian magic number 0x0000TTDD (TT the element type, DD the number of
// dimensions), one big-endian 32-bit size per dimension, then the elements in row-major order.
// The sizes are checked against the file and kMaxInputFileBytes before the elements are allocated.
torch::Tensor read_idx(const std::string& param, const std::string& path, int64_t dimensions,
                       const char* what) {
  IdxStream stream(param, path);
  const size_t header = 4 + 4 * static_cast<size_t>(dimensions);
  std::string bytes(header, '\0');
  bytes.resize(stream.read(bytes.data(), header));
  if (bytes.size() < 4) {
    throw std::runtime_error(path + ": truncated: " + std::to_string(bytes.size()) +
                             " bytes is too short for an IDX header");
  }
  const uint32_t expected_magic =
      (uint32_t{kUnsignedByte} << 8) | static_cast<uint32_t>(dimensions);
  const uint32_t magic = big_endian32(bytes, 0);
  if (magic != expected_magic) {
    throw std::runtime_error(path + ": bad magic number " + hex32(magic) + ", expected " +
                             hex32(expected_magic) + " (IDX " + what + ": unsigned bytes, " +
                             std::to_string(dimensions) + " dimension(s))");
  }
  if (bytes.size() < header) {
    throw std::runtime_error(path + ": truncated: the IDX header needs " + std::to_string(header) +
                             " bytes, the file has " + std::to_string(bytes.size()));
  }
  std::vector<int64_t> sizes;
  std::string declared_sizes;
  // Three 32-bit sizes can multiply past 64 bits (wrapping to a small count): 128-bit product.
  unsigned __int128 declared = 1;
  for (int64_t d = 0; d < dimensions; ++d) {
    sizes.push_back(big_endian32(bytes, 4 + 4 * static_cast<size_t>(d)));
    declared *= static_cast<uint64_t>(sizes.back());
    declared_sizes += (d == 0 ? "" : " x ") + std::to_string(sizes.back());
  }
  auto truncated = [&](uint64_t found) {
    const bool fits = declared <= std::numeric_limits<uint64_t>::max();
    return std::runtime_error(
        path + ": truncated: the header declares " + declared_sizes +
        (fits ? " = " + std::to_string(static_cast<uint64_t>(declared)) : std::string()) +
        " bytes of " + what + ", the file has " + std::to_string(found));
  };
  if (stream.plain() && declared > stream.file_size() - header) {
    throw truncated(stream.file_size() - header);
  }
  if (declared > kMaxInputFileBytes) {
    throw std::runtime_error(path + ": the header declares " + declared_sizes + " bytes of " +
                             what + ", more than the " + std::to_string(kMaxInputFileBytes) +
                             " bytes allowed");
  }
  const auto elements = static_cast<uint64_t>(declared);
  torch::Tensor data = torch::empty(sizes, torch::kUInt8);
  const uint64_t found = stream.read(data.data_ptr<uint8_t>(), elements);
  if (found < elements) throw truncated(found);
  if (const uint64_t extra = stream.remaining(kMaxInputFileBytes); extra > 0) {
    throw std::runtime_error(path + ": " + std::to_string(extra) + " unexpected bytes after the " +
                             std::to_string(elements) + " bytes of " + what +
                             " the header declares");
  }
  return data;
}

struct LabelledImages {
  torch::Tensor images;  // uint8 [N, 1, H, W]
  torch::Tensor labels;  // int64 [N]
};

// A file and the parameter that chose it (explicitly, or as a file of `directory`).
struct IdxFile {
  std::string param;
  std::string path;
};

LabelledImages read_pair(const IdxFile& images_file, const IdxFile& labels_file, int64_t classes) {
  const std::string& images_path = images_file.path;
  const std::string& labels_path = labels_file.path;
  torch::Tensor images = read_idx(images_file.param, images_path, 3, "images");
  torch::Tensor labels = read_idx(labels_file.param, labels_path, 1, "labels").to(torch::kLong);
  if (images.size(1) == 0 || images.size(2) == 0) {
    throw std::runtime_error(images_path + ": images of " + std::to_string(images.size(1)) + "x" +
                             std::to_string(images.size(2)) + " pixels are empty");
  }
  if (images.size(0) != labels.size(0)) {
    throw std::runtime_error(images_path + " holds " + std::to_string(images.size(0)) +
                             " images but " + labels_path + " holds " +
                             std::to_string(labels.size(0)) + " labels");
  }
  check_labels(labels, classes, labels_path);
  return {images.unsqueeze(1), labels};
}

// The plugin's parameters (fashion_mnist_params() declares each), with their defaults. An empty
// file name means the standard file in `directory`.
struct FashionMnistOptions {
  std::string directory = "/usr/share/datasets/fashion-mnist";
  std::string train_images;
  std::string train_labels;
  std::string test_images;
  std::string test_labels;
  int64_t classes = 10;
  Carving carving{5000, 0};
  Normalisation normalisation{{0.2860}, {0.3530}};
};

std::string file_doc(const std::string& stem) {
  return "IDX file to use instead of <directory>/" + stem + "[.gz]";
}

const ParamTable<FashionMnistOptions>& fashion_mnist_params() {
  using Options = FashionMnistOptions;
  static const ParamTable<Options> table =
      ParamTable<Options>()
          .add("directory", &Options::directory,
               "folder holding train-images-idx3-ubyte, train-labels-idx1-ubyte, "
               "t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, each plain or .gz")
          .add("train_images", &Options::train_images, file_doc("train-images-idx3-ubyte"))
          .add("train_labels", &Options::train_labels, file_doc("train-labels-idx1-ubyte"))
          .add("test_images", &Options::test_images, file_doc("t10k-images-idx3-ubyte"))
          .add("test_labels", &Options::test_labels, file_doc("t10k-labels-idx1-ubyte"))
          .add("classes", &Options::classes, "number of classes; labels must be below")
          .at_least(2)
          .add_all(&Options::carving, carving_params())
          .add_all(&Options::normalisation, normalisation_params());
  return table;
}

class FashionMnistPlugin final : public DatasetPlugin {
 public:
  PluginInfo info() const override {
    return {kName, "1.0.0",
            "Fashion-MNIST (or any IDX image set such as MNIST): 28x28 grey images, 10 classes",
            fashion_mnist_params().specs()};
  }

  std::shared_ptr<Dataset> open(const Params& params,
                                const DatasetContext& context) const override {
    const FashionMnistOptions options = fashion_mnist_params().read(params);
    const std::string directory = resolve_path(context, options.directory);
    auto file = [&](const std::string& param, const std::string& given, const std::string& stem) {
      return given.empty() ? IdxFile{"directory", standard_file(directory, stem)}
                           : IdxFile{param, resolve_path(context, given)};
    };
    const int64_t classes = options.classes;
    LabelledImages train =
        read_pair(file("train_images", options.train_images, "train-images-idx3-ubyte"),
                  file("train_labels", options.train_labels, "train-labels-idx1-ubyte"), classes);
    LabelledImages test =
        read_pair(file("test_images", options.test_images, "t10k-images-idx3-ubyte"),
                  file("test_labels", options.test_labels, "t10k-labels-idx1-ubyte"), classes);
    if (test.images.sizes().slice(1) != train.images.sizes().slice(1)) {
      throw std::runtime_error("dataset '" + std::string(kName) + "': test images " +
                               c10::str(test.images.sizes().slice(2)) +
                               " differ in size from training images " +
                               c10::str(train.images.sizes().slice(2)));
    }
    auto shape = train.images.sizes().slice(1).vec();
    return std::make_shared<ImageDataset>(
        image_task(kName, shape, classes),
        carve_train_test(train.images, train.labels, test.images, test.labels, options.carving,
                         context.seed, kName),
        normalisation_from(options.normalisation, 1, kName));
  }

 private:
  // Prefers the unpacked file, as a user who unpacked the data expects it to be the one read.
  static std::string standard_file(const std::string& directory, const std::string& stem) {
    namespace fs = std::filesystem;
    std::error_code error;
    if (!fs::is_directory(directory, error)) {
      throw ParamError("directory", directory + ": no such directory (expected the IDX files of " +
                                        std::string(kName) + ")");
    }
    const fs::path plain = fs::path(directory) / stem;
    if (fs::exists(plain, error)) return plain.string();
    const fs::path packed = fs::path(directory) / (stem + ".gz");
    if (fs::exists(packed, error)) return packed.string();
    throw ParamError("directory", plain.string() + ": no such file (nor " + packed.string() + ")");
  }
};

}  // namespace
}  // namespace guidance::datasets

GUIDANCE_PLUGIN_LIBRARY(registry) {
  registry.add(std::make_shared<guidance::datasets::FashionMnistPlugin>());
}
