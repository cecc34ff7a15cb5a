#include "host/recording/RecordFormat.h"

#include <filesystem>

#include "host/common/Errors.h"
#include "host/recording/RecordSchema.h"

namespace guidance::record_format {

namespace schema = record_schema;
using hdf5::checked;
using hdf5::Handle;

namespace {

// SWMR readers retry a metadata read whose checksum fails (a writer may be mid-flush); HDF5's
// default of 100 attempts with growing back-off spends minutes on a truncated file.
constexpr unsigned kMetadataReadAttempts = 8;

}  // namespace

void check_format(hid_t file, const std::string& path) {
  std::string format = H5Aexists(file, "format") > 0
                           ? hdf5::read_string_attribute(file, "format", path)
                           : std::string();
  if (format != schema::kFormatName) {
    throw RunError(path + " is not a guidance run record (root attribute format is '" + format +
                   "', expected '" + schema::kFormatName + "')");
  }
  int64_t version = hdf5::read_integer_attribute(file, "format_version", path);
  if (version < 1 || version > schema::kFormatVersion) {
    throw RunError(path + " has record format version " + std::to_string(version) +
                   "; this build reads versions 1 to " + std::to_string(schema::kFormatVersion) +
                   " (use a newer guidance)");
  }
}

Handle open_for_reading(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) throw RunError("no record at " + path);
  hdf5::QuietErrors quiet;
  if (H5Fis_hdf5(path.c_str()) <= 0) throw RunError(path + " is not an HDF5 file");
  Handle access = checked(H5Pcreate(H5P_FILE_ACCESS), H5Pclose, "file access list");
  hdf5::check(H5Pset_metadata_read_attempts(access.get(), kMetadataReadAttempts),
              "file access list");
  Handle file = checked(H5Fopen(path.c_str(), H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, access.get()),
                        H5Fclose, "cannot open the record " + path + " (damaged or truncated?)");
  check_format(file.get(), path);
  return file;
}

RecordLayout read_layout(hid_t file, const std::string& path) {
  RecordLayout layout;
  std::string names = std::string(schema::kLayout) + "/";
  layout.pair_names = hdf5::read_strings_dataset(file, names + "pair_names", path);
  layout.measure_names = hdf5::read_strings_dataset(file, names + "measure_names", path);
  layout.guide_taps = hdf5::read_strings_dataset(file, names + "guide_taps", path);
  layout.target_taps = hdf5::read_strings_dataset(file, names + "target_taps", path);
  layout.metrics = hdf5::read_strings_dataset(file, names + "metrics", path);
  Handle snapshots = hdf5::open_group(file, schema::kSnapshots, path);
  layout.activation_dtype = hdf5::read_string_attribute(snapshots.get(), "activation_dtype", path);
  return layout;
}

std::string state_of(const std::string& path) {
  if (!std::filesystem::exists(path)) return "";
  try {
    Handle file = open_for_reading(path);
    hdf5::QuietErrors quiet;
    Handle origin = hdf5::open_group(file.get(), schema::kProvenance, path);
    return hdf5::read_string_attribute(origin.get(), "state", path);
  } catch (const RunError&) {
    return "";
  }
}

}  // namespace guidance::record_format
