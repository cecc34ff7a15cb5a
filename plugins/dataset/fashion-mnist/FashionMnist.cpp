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

class FashionMnistPlugin final : public DatasetPlugin {
 public:
  PluginInfo info() const override {
    PluginInfo info{
        kName,
        "1.0.0",
        "Fashion-MNIST (or any IDX image set such as MNIST): 28x28 grey images, "
        "10 classes",
        {ParamSpec::string("directory", "/usr/share/datasets/fashion-mnist",
                           "folder holding train-images-idx3-ubyte, "
                           "train-labels-idx1-ubyte, t10k-images-idx3-ubyte and "
                           "t10k-labels-idx1-ubyte, each plain or .gz"),
         file_param("train_images", "train-images-idx3-ubyte"),
         file_param("train_labels", "train-labels-idx1-ubyte"),
         file_param("test_images", "t10k-images-idx3-ubyte"),
         file_param("test_labels", "t10k-labels-idx1-ubyte"),
         ParamSpec::integer("classes", 10, "number of classes; labels must be below").at_least(2)}};
    for (auto& spec : carving_params(5000)) info.params.push_back(std::move(spec));
    for (auto& spec : normalisation_params({0.2860}, {0.3530})) {
      info.params.push_back(std::move(spec));
    }
    return info;
  }

  std::shared_ptr<Dataset> open(const Params& params,
                                const DatasetContext& context) const override {
    const std::string directory = resolve_path(context, params.string("directory"));
    auto file = [&](const std::string& param, const std::string& stem) {
      const std::string& given = params.string(param);
      return given.empty() ? IdxFile{"directory", standard_file(directory, stem)}
                           : IdxFile{param, resolve_path(context, given)};
    };
    const int64_t classes = params.integer("classes");
    LabelledImages train = read_pair(file("train_images", "train-images-idx3-ubyte"),
                                     file("train_labels", "train-labels-idx1-ubyte"), classes);
    LabelledImages test = read_pair(file("test_images", "t10k-images-idx3-ubyte"),
                                    file("test_labels", "t10k-labels-idx1-ubyte"), classes);
    if (test.images.sizes().slice(1) != train.images.sizes().slice(1)) {
      throw std::runtime_error("dataset '" + std::string(kName) + "': test images " +
                               c10::str(test.images.sizes().slice(2)) +
                               " differ in size from training images " +
                               c10::str(train.images.sizes().slice(2)));
    }
    auto shape = train.images.sizes().slice(1).vec();
    return std::make_shared<ImageDataset>(
        image_task(kName, shape, classes),
        carve_train_test(train.images, train.labels, test.images, test.labels, params, context.seed,
                         kName),
        normalisation_from(params, 1, kName));
  }

 private:
  static ParamSpec file_param(const std::string& name, const std::string& stem) {
    return ParamSpec::string(name, "", "IDX file to use instead of <directory>/" + stem + "[.gz]");
  }

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
