#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace guidance::testing {

// Small data files for the dataset plugins that read files, written by the tests themselves
// (CIFAR-10 is not packaged; image folders are the user's own).

/// Writes a PNG; pixels are [height, width, channels] row-major, channels 1 (grey) or 3 (RGB).
void write_png(const std::string& path, int width, int height, int channels,
               const std::vector<uint8_t>& pixels);

/// Writes an RGB JPEG (quality 98); pixels are [height, width, 3] row-major.
void write_jpeg(const std::string& path, int width, int height,
                const std::vector<uint8_t>& pixels);

/// @return width × height pixels of one colour (its channels repeated).
std::vector<uint8_t> solid(int width, int height, std::vector<uint8_t> colour);

/// Writes a flat image folder under `root`: image n (0..14) is a 16×12 solid colour with red
/// 15n + 5 and green 100; classes ant, bee (PNG) and cat (JPEG) hold images 0-4, 5-9 and 10-14;
/// plus a text file the loader must ignore.
void write_flat_folder(const std::string& root);

/// @return CIFAR-10 binary records first .. first + count − 1: record r has label (3r) mod 10,
/// then pixel byte i (channel-major, CHW) = (r + i) mod 256.
std::string cifar_records(int first, int count);

/// Writes the six CIFAR-10 binary files into `directory`: two records per training batch
/// (records 0-9), three test records (100-102).
void write_cifar(const std::string& directory);

}  // namespace guidance::testing
