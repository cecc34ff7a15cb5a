#pragma once

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "host/recording/Hdf5.h"
#include "tests/support/TestSupport.h"

namespace guidance::testing {

/// The message of a Fletcher-32 or string-checksum failure of a dataset, after its name.
inline constexpr const char* kChecksumFailure =
    "is damaged (its checksum does not match its contents)";

/// @return the file offset of the middle of the chunk of `dataset` at the origin (its first
/// snapshot's first chunk, for an activation), as HDF5 reports it.
inline uint64_t chunk_middle(const std::string& path, const std::string& dataset) {
  // As a SWMR reader, so that the record of a killed run opens too.
  hdf5::Handle file = hdf5::checked(
      H5Fopen(path.c_str(), H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, H5P_DEFAULT), H5Fclose, path);
  hdf5::Handle handle = hdf5::open_dataset(file.get(), dataset, path);
  std::vector<hsize_t> origin(hdf5::shape_of(handle.get()).size(), 0);
  unsigned filters = 0;
  haddr_t address = HADDR_UNDEF;
  hsize_t size = 0;
  hdf5::check(H5Dget_chunk_info_by_coord(handle.get(), origin.data(), &filters, &address, &size),
              path + ": chunk of " + dataset);
  return address + size / 2;
}

/// @return the offset of `text` in the file, which must hold it exactly once (e.g. a string in
/// HDF5's global heap).
inline uint64_t offset_of(const std::string& path, const std::string& text) {
  std::string bytes = read_file(path);
  size_t at = bytes.find(text);
  EXPECT_NE(at, std::string::npos) << "'" << text << "' is not in " << path;
  EXPECT_EQ(bytes.find(text, at + 1), std::string::npos) << "'" << text << "' occurs twice";
  return at;
}

/// Flips the lowest bit of `count` bytes at `offset` (a letter stays a letter: damage a reader
/// without checksums takes for data).
inline void flip_bits(const std::string& path, uint64_t offset, size_t count = 1) {
  std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
  for (uint64_t at = offset; at < offset + count; ++at) {
    file.seekg(static_cast<std::streamoff>(at));
    char byte = 0;
    file.get(byte);
    file.seekp(static_cast<std::streamoff>(at));
    file.put(static_cast<char>(byte ^ 0x01));
  }
  ASSERT_TRUE(file.good()) << "cannot change " << path;
}

}  // namespace guidance::testing
