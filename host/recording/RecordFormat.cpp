#include "host/recording/RecordFormat.h"

#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "host/common/Errors.h"

namespace guidance::record_format {

namespace schema = record_schema;
using hdf5::check;
using hdf5::checked;
using hdf5::Handle;

namespace {

// SWMR readers retry a metadata read whose checksum fails (a writer may be mid-flush); HDF5's
// default of 100 attempts with growing back-off spends minutes on a truncated file.
constexpr unsigned kMetadataReadAttempts = 8;

// Activation datasets are [S, n, F].
constexpr size_t kActivationRank = 3;

}  // namespace

void check_format(hid_t file, const std::string& path) {
  std::string format = H5Aexists(file, schema::kFormatAttribute) > 0
                           ? hdf5::read_string_attribute(file, schema::kFormatAttribute, path)
                           : std::string();
  if (format != schema::kFormatName) {
    throw RunError(path + " is not a guidance run record (root attribute format is '" + format +
                   "', expected '" + schema::kFormatName + "')");
  }
  int64_t version = hdf5::read_integer_attribute(file, schema::kFormatVersionAttribute, path);
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
  check(H5Pset_metadata_read_attempts(access.get(), kMetadataReadAttempts), "file access list");
  Handle file = checked(H5Fopen(path.c_str(), H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, access.get()),
                        H5Fclose, "cannot open the record " + path + " (damaged or truncated?)");
  check_format(file.get(), path);
  return file;
}

RecordLayout read_layout(hid_t file, const std::string& path) {
  RecordLayout layout;
  for (const auto& list : schema::kLayoutLists) {
    layout.*list.member =
        hdf5::read_strings_dataset(file, std::string(schema::kLayout) + "/" + list.name, path);
  }
  Handle snapshots = hdf5::open_group(file, schema::kSnapshots, path);
  std::string dtype = hdf5::read_string_attribute(snapshots.get(), schema::kActivationDtype, path);
  std::optional<ActivationDtype> known = activation_dtype_named(dtype);
  if (!known) {
    throw RunError(path + ": attribute '" + schema::kActivationDtype + "' of '" +
                   schema::kSnapshots + "' is '" + dtype + "', not " +
                   quoted_names(kActivationDtypeNames));
  }
  layout.activation_dtype = *known;
  return layout;
}

RecordState read_state(hid_t file, const std::string& path) {
  Handle origin = hdf5::open_group(file, schema::kProvenance, path);
  std::string state = hdf5::read_string_attribute(origin.get(), schema::kState, path);
  std::optional<RecordState> known = record_state_named(state);
  if (!known) {
    throw RunError(path + ": provenance attribute '" + schema::kState + "' is '" + state +
                   "', not " + quoted_names(kRecordStateNames));
  }
  return *known;
}

std::optional<RecordState> state_of(const std::string& path) {
  if (!std::filesystem::exists(path)) return std::nullopt;
  try {
    Handle file = open_for_reading(path);
    hdf5::QuietErrors quiet;
    return read_state(file.get(), path);
  } catch (const RunError&) {
    return std::nullopt;
  }
}

std::vector<std::string> find_records(const std::string& directory) {
  namespace fs = std::filesystem;
  std::vector<std::string> records;
  std::set<fs::path> walked{fs::canonical(directory)};
  auto options = fs::directory_options::follow_directory_symlink;
  for (auto entry = fs::recursive_directory_iterator(directory, options);
       entry != fs::recursive_directory_iterator(); ++entry) {
    std::error_code error;
    if (entry->is_directory(error)) {
      if (!walked.insert(fs::canonical(entry->path(), error)).second) {
        entry.disable_recursion_pending();
      }
    } else if (entry->is_regular_file(error) && entry->path().filename() == "run.h5") {
      records.push_back(entry->path().string());
    }
  }
  std::sort(records.begin(), records.end());
  return records;
}

Handle split_type() {
  Handle type = checked(H5Tcopy(H5T_C_S1), H5Tclose, "split type");
  check(H5Tset_size(type.get(), schema::kSplitWidth), "split type");
  check(H5Tset_strpad(type.get(), H5T_STR_NULLPAD), "split type");
  return type;
}

torch::Tensor read_activation(hid_t file, const std::string& path, const std::string& side,
                              const std::string& tap, size_t snapshot) {
  std::string dataset = schema::activation_path(side, tap);
  std::string context = path + ": dataset '" + dataset + "'";
  Handle handle = hdf5::open_dataset(file, dataset, path);
  std::vector<hsize_t> shape = hdf5::shape_of(handle.get());
  if (shape.size() != kActivationRank) throw RunError(context + " is not [S, n, F]");
  if (snapshot >= shape[0]) throw RunError(context + ": no entry " + std::to_string(snapshot));
  torch::Tensor values =
      torch::empty({static_cast<int64_t>(shape[1]), static_cast<int64_t>(shape[2])}, torch::kFloat);
  hdf5::read_block(handle.get(), H5T_NATIVE_FLOAT, {snapshot, 0, 0}, {1, shape[1], shape[2]},
                   values.data_ptr<float>(), path);
  return values;
}

std::vector<int64_t> read_example_shape(hid_t file, const std::string& path,
                                        const std::string& side, const std::string& tap) {
  std::string dataset = schema::activation_path(side, tap);
  Handle handle = hdf5::open_dataset(file, dataset, path);
  std::vector<hsize_t> shape = hdf5::shape_of(handle.get());
  if (shape.size() != kActivationRank) {
    throw RunError(path + ": dataset '" + dataset + "' is not [S, n, F]");
  }
  if (H5Aexists(handle.get(), schema::kExampleShape) <= 0) {
    return {static_cast<int64_t>(shape[2])};
  }
  std::string context = path + ": dataset '" + dataset + "'";
  std::vector<int64_t> example_shape =
      hdf5::read_integers_attribute(handle.get(), schema::kExampleShape, context);
  int64_t features = 1;
  for (int64_t size : example_shape) features *= size;
  if (features != static_cast<int64_t>(shape[2])) {
    throw RunError(context + ": attribute '" + schema::kExampleShape + "' " +
                   c10::str(c10::IntArrayRef(example_shape)) + " does not hold its " +
                   std::to_string(shape[2]) + " features");
  }
  return example_shape;
}

}  // namespace guidance::record_format
