#include "tests/support/DataFiles.h"

#include <png.h>

#include <cstdio>
#include <cstring>
#include <filesystem>

#include <gtest/gtest.h>
#include <jpeglib.h>

#include "tests/support/TestSupport.h"

namespace guidance::testing {

namespace fs = std::filesystem;

void write_png(const std::string& path, int width, int height, int channels,
               const std::vector<uint8_t>& pixels) {
  fs::create_directories(fs::path(path).parent_path());
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  image.width = static_cast<png_uint_32>(width);
  image.height = static_cast<png_uint_32>(height);
  image.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  ASSERT_TRUE(png_image_write_to_file(&image, path.c_str(), 0, pixels.data(), 0, nullptr))
      << image.message;
}

void write_jpeg(const std::string& path, int width, int height,
                const std::vector<uint8_t>& pixels) {
  fs::create_directories(fs::path(path).parent_path());
  FILE* file = std::fopen(path.c_str(), "wb");
  ASSERT_NE(file, nullptr);
  jpeg_compress_struct info;
  jpeg_error_mgr error;
  info.err = jpeg_std_error(&error);
  jpeg_create_compress(&info);
  jpeg_stdio_dest(&info, file);
  info.image_width = static_cast<JDIMENSION>(width);
  info.image_height = static_cast<JDIMENSION>(height);
  info.input_components = 3;
  info.in_color_space = JCS_RGB;
  jpeg_set_defaults(&info);
  jpeg_set_quality(&info, 98, TRUE);
  jpeg_start_compress(&info, TRUE);
  while (info.next_scanline < info.image_height) {
    auto* row = const_cast<JSAMPLE*>(pixels.data() + info.next_scanline * width * 3);
    jpeg_write_scanlines(&info, &row, 1);
  }
  jpeg_finish_compress(&info);
  std::fclose(file);
  jpeg_destroy_compress(&info);
}

std::vector<uint8_t> solid(int width, int height, std::vector<uint8_t> colour) {
  std::vector<uint8_t> pixels;
  for (int p = 0; p < width * height; ++p)
    pixels.insert(pixels.end(), colour.begin(), colour.end());
  return pixels;
}

void write_flat_folder(const std::string& root) {
  const std::vector<std::string> classes{"cat", "ant", "bee"};
  for (int n = 0; n < 15; ++n) {
    const std::string& name = n < 5 ? classes[1] : n < 10 ? classes[2] : classes[0];
    const auto colour = solid(16, 12, {static_cast<uint8_t>(15 * n + 5), 100, 7});
    const std::string stem = root + "/" + name + "/image" + std::to_string(n);
    if (n < 10) {
      write_png(stem + ".png", 16, 12, 3, colour);
    } else {
      write_jpeg(stem + ".JPG", 16, 12, colour);
    }
  }
  write_file(root + "/ant/notes.txt", "not an image, ignored");
}

std::string cifar_records(int first, int count) {
  std::string bytes;
  for (int r = first; r < first + count; ++r) {
    bytes += static_cast<char>((3 * r) % 10);
    for (int i = 0; i < 3072; ++i) bytes += static_cast<char>((r + i) % 256);
  }
  return bytes;
}

void write_cifar(const std::string& directory) {
  for (int b = 1; b <= 5; ++b) {
    write_file(directory + "/data_batch_" + std::to_string(b) + ".bin", cifar_records(2 * (b - 1), 2));
  }
  write_file(directory + "/test_batch.bin", cifar_records(100, 3));
}

}  // namespace guidance::testing
