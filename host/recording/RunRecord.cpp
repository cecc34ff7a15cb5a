#include "host/recording/RunRecord.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <limits>
#include <set>

#include <torch/torch.h>

#include "host/common/Errors.h"
#include "host/recording/RecordSchema.h"

namespace guidance {

namespace fs = std::filesystem;
namespace schema = record_schema;
using hdf5::check;
using hdf5::checked;
using hdf5::Handle;

namespace {

// A first flush writes the metadata of every dataset plus a chunk of rows: well under this.
constexpr uint64_t kFirstFlushBytes = 1 << 20;
// Slack for the metadata a write updates (object headers, B-trees, free space): see require_space.
constexpr uint64_t kMetadataSlackBytes = 32 << 10;
// Rows per chunk of the time series: one chunk holds many flushes' worth of steps.
constexpr hsize_t kRowChunk = 512;
// Activation chunks stay within HDF5's default 1 MiB chunk cache.
constexpr hsize_t kActivationChunkBytes = 1 << 20;

const std::set<std::string> kFinalStates = {"completed", "interrupted", "failed"};

std::string iso_now() {
  std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

void check_names(const std::string& what, const std::vector<std::string>& names) {
  std::set<std::string> seen;
  for (const auto& name : names) {
    if (name.empty() || name == "." || name.find('/') != std::string::npos) {
      throw RunError("record layout: " + what + " '" + name +
                     "' cannot name an HDF5 object (empty, '.' or containing '/')");
    }
    if (!seen.insert(name).second) {
      throw RunError("record layout: " + what + " '" + name + "' appears twice");
    }
  }
}

void check_layout(const RecordLayout& layout) {
  check_names("layer pair", layout.pair_names);
  check_names("measure", layout.measure_names);
  check_names("guide tap", layout.guide_taps);
  check_names("target tap", layout.target_taps);
  check_names("metric", layout.metrics);
  if (layout.activation_dtype != "float32" && layout.activation_dtype != "float16") {
    throw RunError("record layout: activation_dtype '" + layout.activation_dtype +
                   "' is not \"float32\" or \"float16\"");
  }
}

// Refuses what can be known to fail before a single byte of the record is written.
void check_destination(const std::string& path) {
  if (fs::exists(path)) {
    throw RunError("refusing to overwrite the existing record " + path +
                   " (choose another run name or output directory, or resume that run)");
  }
  fs::path directory = fs::absolute(path).parent_path();
  std::error_code error;
  fs::create_directories(directory, error);
  if (error) {
    throw RunError("cannot create the record directory " + directory.string() + " for " + path +
                   ": " + error.message());
  }
  // access() says yes to root on a read-only mount; creating a file is the real test.
  std::string probe = (directory / ".guidance-write-test-XXXXXX").string();
  int descriptor = mkstemp(probe.data());
  if (descriptor < 0) {
    throw RunError("cannot write the record " + path + " in " + directory.string() + ": " +
                   std::strerror(errno));
  }
  close(descriptor);
  unlink(probe.c_str());
  struct statvfs space {};
  if (statvfs(directory.c_str(), &space) == 0) {
    uint64_t available = static_cast<uint64_t>(space.f_bavail) * space.f_frsize;
    if (available < kFirstFlushBytes) {
      throw RunError("not enough space for the record " + path + ": " +
                     std::to_string(available) + " bytes free in " + directory.string() +
                     ", a first flush needs about " + std::to_string(kFirstFlushBytes));
    }
  }
}

Handle file_access(bool clear_status_flags) {
  Handle access = checked(H5Pcreate(H5P_FILE_ACCESS), H5Pclose, "file access list");
  check(H5Pset_libver_bounds(access.get(), H5F_LIBVER_LATEST, H5F_LIBVER_LATEST),
        "file access list");
  if (clear_status_flags) {
    // What `h5clear -s` does: a writer killed in SWMR mode leaves "open for writing" flags in
    // the superblock, which make every later non-SWMR open fail.
    // The property is private to HDF5 (h5clear inserts it the same way).
    hbool_t clear = 1;
    const char* name = "clear_status_flags";
    check(H5Pexist(access.get(), name) > 0
              ? H5Pset(access.get(), name, &clear)
              : H5Pinsert2(access.get(), name, sizeof(clear), &clear, nullptr, nullptr, nullptr,
                           nullptr, nullptr, nullptr),
          "file access list");
  }
  return access;
}

Handle half_type() {
  Handle type = checked(H5Tcopy(H5T_IEEE_F32LE), H5Tclose, "float16 type");
  check(H5Tset_fields(type.get(), 15, 10, 5, 0, 10), "float16 type");
  check(H5Tset_size(type.get(), 2), "float16 type");
  check(H5Tset_ebias(type.get(), 15), "float16 type");
  return type;
}

Handle split_type() {
  Handle type = checked(H5Tcopy(H5T_C_S1), H5Tclose, "split type");
  check(H5Tset_size(type.get(), schema::kSplitWidth), "split type");
  check(H5Tset_strpad(type.get(), H5T_STR_NULLPAD), "split type");
  return type;
}

// A dataset [0, inner...] growing along its first dimension. An inner size of 0 is left
// unlimited, since HDF5 wants every chunk dimension positive and within the maximum.
void create_extendible(hid_t location, const std::string& name, hid_t type,
                       const std::vector<hsize_t>& inner, std::vector<hsize_t> chunk,
                       bool compress, const std::string& file) {
  std::vector<hsize_t> dims{0};
  std::vector<hsize_t> max_dims{H5S_UNLIMITED};
  for (hsize_t size : inner) {
    dims.push_back(size);
    max_dims.push_back(size > 0 ? size : H5S_UNLIMITED);
  }
  for (hsize_t& size : chunk) size = std::max<hsize_t>(size, 1);
  std::string context = file + ": cannot create dataset '" + name + "'";
  Handle space = checked(H5Screate_simple(static_cast<int>(dims.size()), dims.data(),
                                          max_dims.data()),
                         H5Sclose, context);
  Handle properties = checked(H5Pcreate(H5P_DATASET_CREATE), H5Pclose, context);
  check(H5Pset_chunk(properties.get(), static_cast<int>(chunk.size()), chunk.data()), context);
  if (compress) {
    check(H5Pset_shuffle(properties.get()), context);
    check(H5Pset_deflate(properties.get(), 4), context);
  }
  checked(H5Dcreate2(location, name.c_str(), type, space.get(), H5P_DEFAULT, properties.get(),
                     H5P_DEFAULT),
          H5Dclose, context);
}

void create_columns(hid_t location, const std::string& group, hsize_t inner,
                    const std::vector<std::string>& labels, const std::string& name,
                    const std::string& file) {
  create_extendible(location, group + "/" + name, H5T_IEEE_F64LE, {inner},
                    {kRowChunk, inner}, false, file);
  Handle dataset = hdf5::open_dataset(location, group + "/" + name, file);
  hdf5::write_attribute(dataset.get(), "column_labels", labels);
}

// Writes rows [first, first + count) of a dataset whose first dimension grows, extending it to
// exactly first + count rows (so a retried write lands on the same rows), then flushes it.
void write_rows(hid_t file, const std::string& path, hid_t memory_type, int64_t first,
                int64_t count, const void* data, const std::string& file_name) {
  Handle dataset = hdf5::open_dataset(file, path, file_name);
  std::string context = file_name + ": cannot write rows " + std::to_string(first) + ".." +
                        std::to_string(first + count - 1) + " of '" + path + "'";
  std::vector<hsize_t> dims = hdf5::shape_of(dataset.get());
  dims[0] = static_cast<hsize_t>(first + count);
  check(H5Dset_extent(dataset.get(), dims.data()), context);
  std::vector<hsize_t> start(dims.size(), 0);
  std::vector<hsize_t> counts = dims;
  start[0] = static_cast<hsize_t>(first);
  counts[0] = static_cast<hsize_t>(count);
  hdf5::write_block(dataset.get(), memory_type, start, counts, data, context);
  check(H5Dflush(dataset.get()), context);
}

// Shrinks every dataset under `group` to `keep` rows.
void truncate_group(hid_t file, const std::string& group, int64_t keep,
                    const std::string& file_name) {
  Handle handle = hdf5::open_group(file, group, file_name);
  for (const auto& member : hdf5::member_names(handle.get())) {
    std::string path = group + "/" + member;
    Handle object = checked(H5Oopen(file, path.c_str(), H5P_DEFAULT), H5Oclose,
                            file_name + ": cannot open '" + path + "'");
    if (H5Iget_type(object.get()) == H5I_GROUP) {
      truncate_group(file, path, keep, file_name);
      continue;
    }
    std::vector<hsize_t> dims = hdf5::shape_of(object.get());
    if (dims.empty()) continue;
    if (dims[0] < static_cast<hsize_t>(keep)) {
      throw RunError(file_name + ": dataset '" + path + "' holds " + std::to_string(dims[0]) +
                     " rows, fewer than the " + std::to_string(keep) +
                     " its step column says were written");
    }
    dims[0] = static_cast<hsize_t>(keep);
    check(H5Dset_extent(object.get(), dims.data()),
          file_name + ": cannot truncate '" + path + "'");
  }
}

// @return how many rows of a step column have step <= last_step (steps are increasing).
int64_t rows_up_to(const std::vector<int64_t>& steps, int64_t last_step) {
  return std::upper_bound(steps.begin(), steps.end(), last_step) - steps.begin();
}

// [n, ...] -> contiguous float32 [n, features] on the CPU, a view when it already is one.
torch::Tensor flat_float(const torch::Tensor& activation) {
  return activation.detach().reshape({activation.size(0), -1}).to(torch::kCPU, torch::kFloat)
      .contiguous();
}

// @return the `evaluation/split` column as text.
std::vector<std::string> read_splits(hid_t file, const std::string& file_name) {
  std::string path = std::string(schema::kEvaluation) + "/split";
  Handle dataset = hdf5::open_dataset(file, path, file_name);
  std::vector<hsize_t> shape = hdf5::shape_of(dataset.get());
  std::vector<char> text(shape[0] * schema::kSplitWidth);
  if (shape[0] > 0) {
    hdf5::read_block(dataset.get(), split_type().get(), {0}, {shape[0]}, text.data(),
                     file_name + ": cannot read '" + path + "'");
  }
  std::vector<std::string> splits;
  for (hsize_t i = 0; i < shape[0]; ++i) {
    const char* begin = text.data() + i * schema::kSplitWidth;
    splits.emplace_back(begin, strnlen(begin, schema::kSplitWidth));
  }
  return splits;
}

// Writes a fixed-size integer dataset of a tensor's shape (int64 or int8 in the file).
void write_tensor_dataset(hid_t file, const std::string& path, const torch::Tensor& values_in,
                          const std::string& file_name) {
  bool narrow = values_in.scalar_type() == torch::kChar;
  torch::Tensor values = values_in.to(torch::kCPU, narrow ? torch::kChar : torch::kLong).contiguous();
  std::vector<hsize_t> dims(values.sizes().begin(), values.sizes().end());
  std::string context = file_name + ": cannot write dataset '" + path + "'";
  Handle space = checked(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
                         H5Sclose, context);
  Handle dataset = checked(H5Dcreate2(file, path.c_str(), narrow ? H5T_STD_I8LE : H5T_STD_I64LE,
                                      space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                           H5Dclose, context);
  if (values.numel() > 0) {
    check(H5Dwrite(dataset.get(), narrow ? H5T_NATIVE_INT8 : H5T_NATIVE_INT64, H5S_ALL, H5S_ALL,
                   H5P_DEFAULT, values.data_ptr()),
          context);
  }
}

void sync_path(const std::string& path, bool directory) {
  int descriptor = ::open(path.c_str(), (directory ? O_RDONLY | O_DIRECTORY : O_RDWR) | O_CLOEXEC);
  if (descriptor < 0) return;
  int status = ::fsync(descriptor);
  int reason = errno;
  ::close(descriptor);
  if (status != 0 && !directory) {
    throw RunError("cannot sync " + path + ": " + std::strerror(reason));
  }
}

}  // namespace

torch::Tensor similarity_matrix(const Metric& metric, size_t rows, const ActivationLoader& row,
                                size_t columns, const ActivationLoader& column) {
  torch::NoGradGuard no_grad;
  auto matrix = torch::empty({static_cast<int64_t>(rows), static_cast<int64_t>(columns)},
                             torch::kDouble);
  auto entries = matrix.accessor<double, 2>();
  for (size_t i = 0; i < rows; ++i) {
    torch::Tensor row_features = flat_float(row(i));
    for (size_t j = 0; j < columns; ++j) {
      torch::Tensor column_features = flat_float(column(j));
      TORCH_CHECK(column_features.size(0) == row_features.size(0), "similarity_matrix: row activation ",
                  i, " has ", row_features.size(0), " examples, column activation ", j, " has ",
                  column_features.size(0));
      entries[static_cast<int64_t>(i)][static_cast<int64_t>(j)] =
          metric.similarity(row_features, column_features).item<double>();
    }
  }
  return matrix;
}

torch::Tensor similarity_matrix(const Metric& metric, const std::vector<torch::Tensor>& rows,
                                const std::vector<torch::Tensor>& columns) {
  return similarity_matrix(
      metric, rows.size(), [&](size_t i) { return rows[i]; }, columns.size(),
      [&](size_t j) { return columns[j]; });
}

RunRecord::RunRecord(std::string path, RecordLayout layout)
    : path_(std::move(path)), layout_(std::move(layout)) {}

RunRecord::~RunRecord() {
  if (!file_ || finished_) return;
  try {
    flush();
  } catch (const std::exception&) {
    // A destructor must not throw; the file keeps what the last successful flush wrote.
  }
  file_.close();
}

std::unique_ptr<RunRecord> RunRecord::create(const std::string& path,
                                             const Provenance& provenance,
                                             const RecordLayout& layout) {
  check_layout(layout);
  check_destination(path);
  hdf5::QuietErrors quiet;
  std::unique_ptr<RunRecord> record(new RunRecord(path, layout));
  Handle access = file_access(false);
  record->file_ = checked(H5Fcreate(path.c_str(), H5F_ACC_EXCL, H5P_DEFAULT, access.get()),
                          H5Fclose, "cannot create the record " + path);
  try {
    hid_t file = record->file_.get();
    hdf5::write_attribute(file, "format", std::string(schema::kFormatName));
    hdf5::write_integer_attribute(file, "format_version", schema::kFormatVersion);
    hdf5::write_string_dataset(file, schema::kConfig, provenance.config_toml);

    Handle origin = hdf5::create_group(file, schema::kProvenance, path);
    hdf5::write_attribute(origin.get(), "workbench_version", provenance.workbench_version);
    hdf5::write_attribute(origin.get(), "torch_version", provenance.torch_version);
    hdf5::write_attribute(origin.get(), "hdf5_version", std::string(H5_VERS_INFO));
    hdf5::write_attribute(origin.get(), "host", provenance.host);
    hdf5::write_attribute(origin.get(), "config_path", provenance.config_path);
    hdf5::write_attribute(origin.get(), "start_time", provenance.start_time);
    hdf5::write_attribute(origin.get(), "end_time", std::string());
    hdf5::write_attribute(origin.get(), "state", std::string("running"));
    hdf5::write_unsigned_attribute(origin.get(), "seed", provenance.seed);
    hdf5::write_integer_attribute(origin.get(), schema::kBestStep, -1);
    hdf5::write_integer_attribute(origin.get(), "threads", provenance.threads);
    Handle plugins = hdf5::create_group(file, schema::kPlugins, path);
    std::vector<std::string> kinds, names, versions, libraries;
    for (const auto& plugin : provenance.plugins) {
      kinds.push_back(plugin.kind);
      names.push_back(plugin.name);
      versions.push_back(plugin.version);
      libraries.push_back(plugin.library);
    }
    hdf5::write_strings_dataset(plugins.get(), "kind", kinds);
    hdf5::write_strings_dataset(plugins.get(), "name", names);
    hdf5::write_strings_dataset(plugins.get(), "version", versions);
    hdf5::write_strings_dataset(plugins.get(), "library", libraries);

    Handle names_group = hdf5::create_group(file, schema::kLayout, path);
    hdf5::write_strings_dataset(names_group.get(), "pair_names", layout.pair_names);
    hdf5::write_strings_dataset(names_group.get(), "measure_names", layout.measure_names);
    hdf5::write_strings_dataset(names_group.get(), "guide_taps", layout.guide_taps);
    hdf5::write_strings_dataset(names_group.get(), "target_taps", layout.target_taps);
    hdf5::write_strings_dataset(names_group.get(), "metrics", layout.metrics);

    std::string training = schema::kTraining;
    hdf5::create_group(file, training, path);
    create_extendible(file, training + "/step", H5T_STD_I64LE, {}, {kRowChunk}, false, path);
    for (const char* column : schema::kTrainingIntColumns) {
      create_extendible(file, training + "/" + column, H5T_STD_I64LE, {}, {kRowChunk}, false,
                        path);
    }
    for (const char* column : schema::kTrainingRealColumns) {
      create_extendible(file, training + "/" + column, H5T_IEEE_F64LE, {}, {kRowChunk}, false,
                        path);
    }
    create_columns(file, training, layout.pair_names.size(), layout.pair_names, "pair_distance",
                   path);

    std::string evaluation = schema::kEvaluation;
    hdf5::create_group(file, evaluation, path);
    create_extendible(file, evaluation + "/step", H5T_STD_I64LE, {}, {kRowChunk}, false, path);
    create_extendible(file, evaluation + "/epoch", H5T_STD_I64LE, {}, {kRowChunk}, false, path);
    create_extendible(file, evaluation + "/split", split_type().get(), {}, {kRowChunk}, false,
                      path);
    create_extendible(file, evaluation + "/loss", H5T_IEEE_F64LE, {}, {kRowChunk}, false, path);
    create_columns(file, evaluation, layout.measure_names.size(), layout.measure_names,
                   "measures", path);

    std::string snapshots = schema::kSnapshots;
    Handle snapshot_group = hdf5::create_group(file, snapshots, path);
    hdf5::write_attribute(snapshot_group.get(), "activation_dtype", layout.activation_dtype);
    create_extendible(file, snapshots + "/step", H5T_STD_I64LE, {}, {64}, false, path);
    hdf5::create_group(file, snapshots + "/activations/guide", path);
    hdf5::create_group(file, snapshots + "/activations/target", path);
    struct Side {
      const char* name;
      const std::vector<std::string>* taps;
    };
    const Side guide{"guide", &layout.guide_taps};
    const Side target{"target", &layout.target_taps};
    std::vector<std::pair<Side, Side>> products = {{target, target}};
    if (!layout.guide_taps.empty()) {
      products.insert(products.begin(), {guide, target});
      products.push_back({guide, guide});
    }
    for (const auto& metric : layout.metrics) {
      hdf5::create_group(file, snapshots + "/similarity/" + metric, path);
      for (const auto& [rows, columns] : products) {
        std::string which = std::string(rows.name) + "_" + columns.name;
        std::string dataset_path = schema::similarity_path(metric, which);
        hsize_t row_count = rows.taps->size();
        hsize_t column_count = columns.taps->size();
        create_extendible(file, dataset_path, H5T_IEEE_F64LE, {row_count, column_count},
                          {1, row_count, column_count}, false, path);
        Handle dataset = hdf5::open_dataset(file, dataset_path, path);
        hdf5::write_attribute(dataset.get(), "rows", std::string(rows.name));
        hdf5::write_attribute(dataset.get(), "columns", std::string(columns.name));
        hdf5::write_attribute(dataset.get(), "row_labels", *rows.taps);
        hdf5::write_attribute(dataset.get(), "column_labels", *columns.taps);
      }
    }
    record->start_swmr();
  } catch (...) {
    // The half-made file holds nothing yet; leaving it would block a rerun under the same name.
    record->file_.close();
    fs::remove(path);
    throw;
  }
  return record;
}

std::unique_ptr<RunRecord> RunRecord::resume(const std::string& path, int64_t last_step) {
  if (!fs::exists(path)) throw RunError("no record to resume at " + path);
  hdf5::QuietErrors quiet;
  std::unique_ptr<RunRecord> record(new RunRecord(path, RecordLayout{}));
  // A killed writer leaves "open for writing" flags: cleared in the copy, as `h5clear -s` would.
  record->edit_copy(true, [&] {
    hid_t file = record->file_.get();
    record_format::check_format(file, path);
    record->layout_ = record_format::read_layout(file, path);
    const std::pair<const char*, Table*> tables[] = {{schema::kTraining, &record->training_},
                                                      {schema::kEvaluation, &record->evaluation_},
                                                      {schema::kSnapshots, &record->snapshots_}};
    for (const auto& [group, table] : tables) {
      std::vector<int64_t> steps = hdf5::read_integers(file, std::string(group) + "/step", path);
      table->rows = rows_up_to(steps, last_step);
      if (table == &record->evaluation_) {
        // The final rows come last; a run killed while finishing writes them again.
        std::vector<std::string> splits = read_splits(file, path);
        while (table->rows > 0 &&
               schema::is_final_split(splits[table->rows - 1])) {
          --table->rows;
        }
      }
      truncate_group(file, group, table->rows, path);
      if (table->rows > 0) table->last_step = steps[table->rows - 1];
    }
    if (hdf5::exists(file, schema::kPredictions)) {
      check(H5Ldelete(file, schema::kPredictions, H5P_DEFAULT),
            path + ": cannot drop the predictions of an earlier finish");
    }
    Handle origin = hdf5::open_group(file, schema::kProvenance, path);
    std::vector<std::string> resumed;
    if (H5Aexists(origin.get(), "resumed_at") > 0) {
      resumed = hdf5::read_strings_attribute(origin.get(), "resumed_at", path);
    }
    resumed.push_back(iso_now());
    hdf5::write_attribute(origin.get(), "resumed_at", resumed);
    hdf5::write_attribute(origin.get(), "state", std::string("running"));
    hdf5::write_attribute(origin.get(), "end_time", std::string());
    hdf5::write_integer_attribute(origin.get(), schema::kBestStep, -1);
  });
  record->open(false);
  record->start_swmr();
  return record;
}

void RunRecord::open(bool clear_status_flags) {
  Handle access = file_access(clear_status_flags);
  file_ = checked(H5Fopen(path_.c_str(), H5F_ACC_RDWR, access.get()), H5Fclose,
                  "cannot open the record " + path_ + " for writing");
}

void RunRecord::start_swmr() {
  check(H5Fstart_swmr_write(file_.get()),
        "cannot start single-writer/multiple-reader mode on " + path_);
}

void RunRecord::edit_copy(bool clear_status_flags, const std::function<void()>& edit) {
  // HDF5 promises nothing about a file killed while it is changed outside SWMR mode, so every
  // such change is made to a copy that replaces the record by a rename: a kill at any instant
  // leaves the old file or the new one. The copy's name is unique to this process; a run
  // directory's lock holder removes leftovers of killed ones.
  if (file_ && !file_.close()) throw RunError("cannot close the record " + path_ + " to change it");
  std::string copy = path_ + ".partial." + std::to_string(getpid());
  std::error_code error;
  fs::copy_file(path_, copy, fs::copy_options::overwrite_existing, error);
  if (error) {
    fs::remove(copy, error);
    throw RunError("cannot copy the record " + path_ + " to change it (" + copy + "): " +
                   error.message() + "; the record is unchanged");
  }
  try {
    Handle access = file_access(clear_status_flags);
    file_ = checked(H5Fopen(copy.c_str(), H5F_ACC_RDWR, access.get()), H5Fclose,
                    "cannot open " + copy + " (a copy of the record " + path_ + ")");
    edit();
    if (!file_.close()) throw RunError("cannot close " + copy + ": " + hdf5::error_stack_text());
    sync_path(copy, false);
    if (std::rename(copy.c_str(), path_.c_str()) != 0) {
      throw RunError("cannot rename " + copy + " over the record " + path_ + ": " +
                     std::strerror(errno));
    }
    sync_path(fs::absolute(path_).parent_path().string(), true);
  } catch (...) {
    file_.close();
    fs::remove(copy, error);
    throw;
  }
}

template <typename Create>
void RunRecord::change_structure(Create create) {
  // A SWMR writer cannot create objects in HDF5 1.10: leave SWMR mode, add the objects to a copy
  // (edit_copy), and enter it again.
  edit_copy(false, create);
  open(false);
  start_swmr();
}

void RunRecord::require_open(const char* operation) const {
  if (finished_ || !file_) {
    throw RunError(std::string("cannot ") + operation + ": the record " + path_ +
                   " is already finished");
  }
}

void RunRecord::append_training(const TrainingRow& row) {
  require_open("append a training row");
  if (row.pair_distances.size() != layout_.pair_names.size()) {
    throw RunError(path_ + ": training row at step " + std::to_string(row.step) + " has " +
                   std::to_string(row.pair_distances.size()) + " pair distances, the layout has " +
                   std::to_string(layout_.pair_names.size()) + " layer pairs");
  }
  if (training_.last_step && row.step <= *training_.last_step) {
    throw RunError(path_ + ": training row at step " + std::to_string(row.step) +
                   " does not follow the previous row's step " +
                   std::to_string(*training_.last_step));
  }
  pending_training_.push_back(row);
  training_.last_step = row.step;
}

void RunRecord::append_evaluation(const EvaluationRow& row) {
  require_open("append an evaluation row");
  if (row.split.empty() || row.split.size() > static_cast<size_t>(schema::kSplitWidth)) {
    throw RunError(path_ + ": evaluation split '" + row.split + "' must have 1 to " +
                   std::to_string(schema::kSplitWidth) + " characters");
  }
  for (const auto& [name, value] : row.measures) {
    if (std::find(layout_.measure_names.begin(), layout_.measure_names.end(), name) ==
        layout_.measure_names.end()) {
      throw RunError(path_ + ": evaluation measure '" + name +
                     "' is not among the record's measures");
    }
  }
  if (evaluation_.last_step && row.step < *evaluation_.last_step) {
    throw RunError(path_ + ": evaluation at step " + std::to_string(row.step) +
                   " comes after one at step " + std::to_string(*evaluation_.last_step));
  }
  pending_evaluation_.push_back(row);
  evaluation_.last_step = row.step;
}

void RunRecord::write_training_rows() {
  if (pending_training_.empty()) return;
  hid_t file = file_.get();
  auto count = static_cast<int64_t>(pending_training_.size());
  std::string group = std::string(schema::kTraining) + "/";
  std::vector<int64_t> integers(pending_training_.size());
  std::transform(pending_training_.begin(), pending_training_.end(), integers.begin(),
                 [](const TrainingRow& row) { return row.epoch; });
  write_rows(file, group + "epoch", H5T_NATIVE_INT64, training_.rows, count, integers.data(),
             path_);
  const std::vector<double TrainingRow::*> reals = {
      &TrainingRow::learning_rate, &TrainingRow::total_loss, &TrainingRow::task_loss,
      &TrainingRow::guidance_loss, &TrainingRow::distill_loss};
  for (size_t column = 0; column < reals.size(); ++column) {
    std::vector<double> values;
    for (const auto& row : pending_training_) values.push_back(row.*reals[column]);
    write_rows(file, group + schema::kTrainingRealColumns[column], H5T_NATIVE_DOUBLE,
               training_.rows, count, values.data(), path_);
  }
  std::vector<double> distances;
  for (const auto& row : pending_training_) {
    distances.insert(distances.end(), row.pair_distances.begin(), row.pair_distances.end());
  }
  write_rows(file, group + "pair_distance", H5T_NATIVE_DOUBLE, training_.rows, count,
             distances.data(), path_);
  std::transform(pending_training_.begin(), pending_training_.end(), integers.begin(),
                 [](const TrainingRow& row) { return row.step; });
  write_rows(file, group + "step", H5T_NATIVE_INT64, training_.rows, count, integers.data(),
             path_);
  training_.rows += count;
  pending_training_.clear();
}

void RunRecord::write_evaluation_rows() {
  if (pending_evaluation_.empty()) return;
  hid_t file = file_.get();
  auto count = static_cast<int64_t>(pending_evaluation_.size());
  std::string group = std::string(schema::kEvaluation) + "/";
  std::vector<int64_t> integers;
  std::vector<char> splits(pending_evaluation_.size() * schema::kSplitWidth, '\0');
  std::vector<double> losses;
  std::vector<double> measures;
  for (size_t i = 0; i < pending_evaluation_.size(); ++i) {
    const EvaluationRow& row = pending_evaluation_[i];
    integers.push_back(row.epoch);
    std::copy(row.split.begin(), row.split.end(), splits.begin() + i * schema::kSplitWidth);
    losses.push_back(row.loss);
    for (const auto& name : layout_.measure_names) {
      auto found = row.measures.find(name);
      measures.push_back(found != row.measures.end() ? found->second
                                                     : std::numeric_limits<double>::quiet_NaN());
    }
  }
  write_rows(file, group + "epoch", H5T_NATIVE_INT64, evaluation_.rows, count, integers.data(),
             path_);
  write_rows(file, group + "split", split_type().get(), evaluation_.rows, count, splits.data(),
             path_);
  write_rows(file, group + "loss", H5T_NATIVE_DOUBLE, evaluation_.rows, count, losses.data(),
             path_);
  write_rows(file, group + "measures", H5T_NATIVE_DOUBLE, evaluation_.rows, count,
             measures.data(), path_);
  integers.clear();
  for (const auto& row : pending_evaluation_) integers.push_back(row.step);
  write_rows(file, group + "step", H5T_NATIVE_INT64, evaluation_.rows, count, integers.data(),
             path_);
  evaluation_.rows += count;
  pending_evaluation_.clear();
}

void RunRecord::require_space(uint64_t bytes, const std::string& what) const {
  // A write HDF5 cannot complete (a full disk, a file size limit) may leave metadata that point
  // past the end of the file, which no later open accepts: refuse it before it starts, so the
  // file keeps everything up to the last flush and a resume continues from there.
  uint64_t needed = bytes + kMetadataSlackBytes;
  std::optional<uint64_t> available;
  std::string limit_text;
  fs::path directory = fs::absolute(path_).parent_path();
  struct statvfs space {};
  if (statvfs(directory.c_str(), &space) == 0) {
    available = static_cast<uint64_t>(space.f_bavail) * space.f_frsize;
    limit_text = " free in " + directory.string();
  }
  struct rlimit limit {};
  std::error_code error;
  uintmax_t size = fs::file_size(path_, error);
  if (!error && getrlimit(RLIMIT_FSIZE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
    uint64_t left = limit.rlim_cur > size ? limit.rlim_cur - size : 0;
    if (!available || left < *available) {
      available = left;
      limit_text = " left under the file size limit (ulimit -f)";
    }
  }
  if (available && *available < needed) {
    throw RunError("not enough space to write " + what + " to the record " + path_ + ": " +
                   std::to_string(*available) + " bytes" + limit_text + ", about " +
                   std::to_string(needed) + " needed. Nothing of it was written; the record keeps "
                   "everything up to its last flush: free space, then continue with --resume");
  }
}

void RunRecord::flush() {
  require_open("flush");
  // The rows' bytes, plus a chunk per column where the rows start a new one.
  auto table_bytes = [](const Table& table, size_t pending, uint64_t row_values) {
    bool new_chunk = pending > 0 && (table.rows % kRowChunk == 0 ||
                                     table.rows / kRowChunk != (table.rows + pending) / kRowChunk);
    return (pending + (new_chunk ? kRowChunk : 0)) * row_values * 8;
  };
  uint64_t bytes =
      table_bytes(training_, pending_training_.size(), 6 + layout_.pair_names.size()) +
      table_bytes(evaluation_, pending_evaluation_.size(), 4 + layout_.measure_names.size());
  if (!pending_training_.empty() || !pending_evaluation_.empty()) {
    require_space(bytes, "the rows up to step " + std::to_string(std::max(
                             training_.last_step.value_or(0), evaluation_.last_step.value_or(0))));
  }
  hdf5::QuietErrors quiet;
  write_training_rows();
  write_evaluation_rows();
  check(H5Fflush(file_.get(), H5F_SCOPE_GLOBAL), "cannot flush the record " + path_);
}

void RunRecord::write_probe(const torch::Tensor& indices, const torch::Tensor& labels) {
  require_open("write the probe set");
  if (indices.dim() != 1 || labels.dim() < 1 || labels.dim() > 2 ||
      labels.size(0) != indices.size(0)) {
    throw RunError(path_ + ": probe indices must be [n] and labels [n] or [n, L]; got " +
                   c10::str(indices.sizes()) + " and " + c10::str(labels.sizes()));
  }
  hdf5::QuietErrors quiet;
  const std::pair<std::string, torch::Tensor> parts[] = {
      {std::string(schema::kProbe) + "/indices", indices.to(torch::kCPU, torch::kLong).contiguous()},
      {std::string(schema::kProbe) + "/labels", labels.to(torch::kCPU, torch::kLong).contiguous()}};
  if (hdf5::exists(file_.get(), parts[0].first)) {
    for (const auto& [dataset, values] : parts) {
      std::vector<int64_t> stored = hdf5::read_integers(file_.get(), dataset, path_);
      std::vector<hsize_t> shape =
          hdf5::shape_of(hdf5::open_dataset(file_.get(), dataset, path_).get());
      bool same = shape.size() == static_cast<size_t>(values.dim()) &&
                  static_cast<int64_t>(stored.size()) == values.numel() &&
                  std::equal(stored.begin(), stored.end(), values.data_ptr<int64_t>());
      if (!same) {
        throw RunError(path_ + ": dataset '" + dataset +
                       "' already holds a different probe set than the one being written");
      }
    }
    return;
  }
  change_structure([&] {
    hdf5::create_group(file_.get(), schema::kProbe, path_);
    for (const auto& [dataset, values] : parts) {
      std::vector<hsize_t> dims(values.sizes().begin(), values.sizes().end());
      Handle space = checked(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
                             H5Sclose, path_ + ": " + dataset);
      Handle handle = checked(H5Dcreate2(file_.get(), dataset.c_str(), H5T_STD_I64LE,
                                         space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                              H5Dclose, path_ + ": cannot create dataset '" + dataset + "'");
      if (values.numel() > 0) {
        check(H5Dwrite(handle.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                       values.data_ptr<int64_t>()),
              path_ + ": cannot write dataset '" + dataset + "'");
      }
    }
  });
}

const std::vector<std::string>& RunRecord::taps_of(const std::string& side) const {
  return side == "guide" ? layout_.guide_taps : layout_.target_taps;
}

void RunRecord::create_activation_datasets(const std::string& side, int64_t examples,
                                           const std::vector<torch::Tensor>& first_batch) {
  bool half = layout_.activation_dtype == "float16";
  Handle half_file_type = half ? half_type() : Handle();
  hid_t type = half ? half_file_type.get() : H5T_IEEE_F32LE;
  hsize_t element_bytes = half ? 2 : 4;
  const std::vector<std::string>& taps = taps_of(side);
  for (size_t i = 0; i < taps.size(); ++i) {
    std::string dataset = schema::activation_path(side, taps[i]);
    if (hdf5::exists(file_.get(), dataset)) continue;
    int64_t rows = first_batch[i].size(0);
    auto features = static_cast<hsize_t>(rows > 0 ? first_batch[i].numel() / rows : 0);
    hsize_t budget = kActivationChunkBytes / element_bytes;
    hsize_t chunk_features = std::clamp<hsize_t>(features, 1, budget);
    hsize_t chunk_examples = std::clamp<hsize_t>(budget / chunk_features, 1,
                                                 std::max<int64_t>(examples, 1));
    create_extendible(file_.get(), dataset, type, {static_cast<hsize_t>(examples), features},
                      {1, chunk_examples, chunk_features}, true, path_);
  }
}

void RunRecord::write_activations(int64_t slot, const std::string& side,
                                  const SnapshotSource& source) {
  const std::vector<std::string>& taps = taps_of(side);
  if (taps.empty()) return;
  int64_t batch_size = std::max<int64_t>(source.batch_size, 1);
  for (int64_t begin = 0; begin < source.examples; begin += batch_size) {
    int64_t end = std::min(begin + batch_size, source.examples);
    std::vector<torch::Tensor> batch = source.activations(side, begin, end);
    if (batch.size() != taps.size()) {
      throw RunError(path_ + ": snapshot gives " + std::to_string(batch.size()) + " " + side +
                     " activations, the layout has " + std::to_string(taps.size()) + " " + side +
                     " taps");
    }
    if (begin == 0) {
      // The side's activations uncompressed, plus one partly filled chunk per tap.
      uint64_t bytes = 0;
      for (const auto& activation : batch) {
        int64_t rows = std::max<int64_t>(activation.size(0), 1);
        uint64_t raw = static_cast<uint64_t>(source.examples * (activation.numel() / rows)) *
                       (layout_.activation_dtype == "float16" ? 2 : 4);
        bytes += raw + std::min<uint64_t>(raw, kActivationChunkBytes);
      }
      require_space(bytes, "the " + side + " activations of snapshot " + std::to_string(slot));
      bool missing = false;
      for (const auto& tap : taps) {
        missing = missing || !hdf5::exists(file_.get(), schema::activation_path(side, tap));
      }
      if (missing) {
        change_structure([&] { create_activation_datasets(side, source.examples, batch); });
      }
    }
    for (size_t i = 0; i < taps.size(); ++i) {
      write_activation_rows(slot, side, taps[i], begin, batch[i]);
    }
  }
}

void RunRecord::write_activation_rows(int64_t slot, const std::string& side,
                                      const std::string& tap, int64_t begin,
                                      const torch::Tensor& activation) {
  std::string dataset = schema::activation_path(side, tap);
  bool half = layout_.activation_dtype == "float16";
  torch::Tensor stored = activation.detach()
                             .reshape({activation.size(0), -1})
                             .to(torch::kCPU, half ? torch::kHalf : torch::kFloat)
                             .contiguous();
  Handle handle = hdf5::open_dataset(file_.get(), dataset, path_);
  std::vector<hsize_t> shape = hdf5::shape_of(handle.get());
  auto rows = static_cast<hsize_t>(stored.size(0));
  if (static_cast<hsize_t>(begin) + rows > shape[1] ||
      shape[2] != static_cast<hsize_t>(stored.size(1))) {
    throw RunError(path_ + ": dataset '" + dataset + "' holds activations of [" +
                   std::to_string(shape[1]) + ", " + std::to_string(shape[2]) +
                   "] (examples, features), the snapshot gives " + c10::str(activation.sizes()) +
                   " for examples " + std::to_string(begin) + ".." +
                   std::to_string(begin + stored.size(0) - 1));
  }
  std::string context = path_ + ": cannot write snapshot " + std::to_string(slot) + " of '" +
                        dataset + "'";
  if (shape[0] < static_cast<hsize_t>(slot + 1)) {
    shape[0] = static_cast<hsize_t>(slot + 1);
    check(H5Dset_extent(handle.get(), shape.data()), context);
  }
  Handle half_memory_type = half ? half_type() : Handle();
  hdf5::write_block(handle.get(), half ? half_memory_type.get() : H5T_NATIVE_FLOAT,
                    {static_cast<hsize_t>(slot), static_cast<hsize_t>(begin), 0},
                    {1, rows, shape[2]}, stored.data_ptr(), context);
}

torch::Tensor read_snapshot_activation(hid_t file, const std::string& file_name,
                                       const std::string& side, const std::string& tap,
                                       size_t snapshot) {
  std::string dataset = schema::activation_path(side, tap);
  std::string context = file_name + ": dataset '" + dataset + "'";
  Handle handle = hdf5::open_dataset(file, dataset, file_name);
  std::vector<hsize_t> shape = hdf5::shape_of(handle.get());
  if (shape.size() != 3) throw RunError(context + " is not [S, n, F]");
  if (snapshot >= shape[0]) throw RunError(context + ": no entry " + std::to_string(snapshot));
  torch::Tensor values = torch::empty(
      {static_cast<int64_t>(shape[1]), static_cast<int64_t>(shape[2])}, torch::kFloat);
  hdf5::read_block(handle.get(), H5T_NATIVE_FLOAT, {snapshot, 0, 0}, {1, shape[1], shape[2]},
                   values.data_ptr<float>(), context);
  return values;
}

void RunRecord::write_similarity(int64_t slot, const std::string& metric, const std::string& which,
                                 const torch::Tensor& matrix) {
  write_rows(file_.get(), schema::similarity_path(metric, which), H5T_NATIVE_DOUBLE, slot, 1,
             matrix.contiguous().data_ptr<double>(), path_);
}

namespace {

/// Stored taps of one snapshot read back for similarity matrices, kept in memory up to a byte
/// budget (the oldest loaded is dropped first); a tap larger than the budget is never kept.
class StoredTaps {
 public:
  StoredTaps(std::function<torch::Tensor(const std::string&, const std::string&)> read,
             uint64_t budget)
      : read_(std::move(read)), budget_(budget) {}

  torch::Tensor get(const std::string& side, const std::string& tap) {
    std::string key = side + "/" + tap;
    auto found = kept_.find(key);
    if (found != kept_.end()) return found->second;
    torch::Tensor values = read_(side, tap);
    uint64_t bytes = values.nbytes();
    if (bytes > budget_) return values;
    while (held_ + bytes > budget_) {
      held_ -= kept_.at(order_.front()).nbytes();
      kept_.erase(order_.front());
      order_.erase(order_.begin());
    }
    kept_.emplace(key, values);
    order_.push_back(key);
    held_ += bytes;
    return values;
  }

 private:
  std::function<torch::Tensor(const std::string&, const std::string&)> read_;
  uint64_t budget_;
  uint64_t held_ = 0;
  std::map<std::string, torch::Tensor> kept_;
  std::vector<std::string> order_;
};

}  // namespace

void RunRecord::write_snapshot(int64_t step, const SnapshotSource& source,
                               const std::vector<std::shared_ptr<Metric>>& metrics) {
  require_open("write a snapshot");
  if (metrics.size() != layout_.metrics.size()) {
    throw RunError(path_ + ": snapshot at step " + std::to_string(step) + " has " +
                   std::to_string(metrics.size()) + " metrics, the layout has " +
                   std::to_string(layout_.metrics.size()));
  }
  if (snapshots_.last_step && step < *snapshots_.last_step) {
    throw RunError(path_ + ": snapshot at step " + std::to_string(step) +
                   " comes after one at step " + std::to_string(*snapshots_.last_step));
  }
  // A second snapshot at the same step (e.g. "every N" meeting "at the end") replaces the first.
  int64_t slot = snapshots_.last_step && step == *snapshots_.last_step ? snapshots_.rows - 1
                                                                        : snapshots_.rows;
  hdf5::QuietErrors quiet;
  write_activations(slot, "guide", source);
  write_activations(slot, "target", source);

  StoredTaps stored([&](const std::string& side, const std::string& tap) {
    return read_snapshot_activation(file_.get(), path_, side, tap, static_cast<size_t>(slot));
  }, source.similarity_memory_bytes);
  auto loader = [&](const std::string& side) -> ActivationLoader {
    return [&, side](size_t index) { return stored.get(side, taps_of(side)[index]); };
  };
  auto matrix = [&](const Metric& metric, const std::string& rows, const std::string& columns) {
    return similarity_matrix(metric, taps_of(rows).size(), loader(rows), taps_of(columns).size(),
                             loader(columns));
  };
  for (size_t m = 0; m < metrics.size(); ++m) {
    const Metric& metric = *metrics[m];
    const std::string& name = layout_.metrics[m];
    if (!layout_.guide_taps.empty()) {
      write_similarity(slot, name, "guide_target", matrix(metric, "guide", "target"));
      write_similarity(slot, name, "guide_guide", matrix(metric, "guide", "guide"));
    }
    write_similarity(slot, name, "target_target", matrix(metric, "target", "target"));
  }
  write_rows(file_.get(), std::string(schema::kSnapshots) + "/step", H5T_NATIVE_INT64, slot, 1,
             &step, path_);
  snapshots_.rows = slot + 1;
  snapshots_.last_step = step;
  flush();
}

void RunRecord::write_snapshot(int64_t step, const std::vector<torch::Tensor>& guide_activations,
                               const std::vector<torch::Tensor>& target_activations,
                               const std::vector<std::shared_ptr<Metric>>& metrics) {
  auto count_error = [&](const std::string& what, size_t given, size_t expected) {
    return RunError(path_ + ": snapshot at step " + std::to_string(step) + " has " +
                    std::to_string(given) + " " + what + ", the layout has " +
                    std::to_string(expected));
  };
  if (guide_activations.size() != layout_.guide_taps.size()) {
    throw count_error("guide activations", guide_activations.size(), layout_.guide_taps.size());
  }
  if (target_activations.size() != layout_.target_taps.size()) {
    throw count_error("target activations", target_activations.size(),
                      layout_.target_taps.size());
  }
  SnapshotSource source;
  source.examples = target_activations.empty() ? 0 : target_activations.front().size(0);
  for (const auto& activations : {guide_activations, target_activations}) {
    for (const auto& activation : activations) {
      if (activation.dim() == 0 || activation.size(0) != source.examples) {
        throw RunError(path_ + ": snapshot at step " + std::to_string(step) +
                       " has activations of " + c10::str(activation.sizes()) + " where every tap "
                       "needs the same " + std::to_string(source.examples) + " examples");
      }
    }
  }
  source.batch_size = source.examples;
  source.activations = [&](const std::string& side, int64_t begin, int64_t end) {
    std::vector<torch::Tensor> rows;
    for (const auto& tap : side == "guide" ? guide_activations : target_activations) {
      rows.push_back(tap.narrow(0, begin, end - begin));
    }
    return rows;
  };
  write_snapshot(step, source, metrics);
}

void RunRecord::finish(const std::string& state, const std::string& end_time,
                       const FinalResults& results) {
  if (finished_) throw RunError("cannot finish: the record " + path_ + " is already finished");
  if (kFinalStates.count(state) == 0) {
    throw RunError(path_ + ": final state '" + state +
                   "' is not \"completed\", \"interrupted\" or \"failed\"");
  }
  if (file_) {
    try {
      flush();
    } catch (const RunError&) {
      // A failed run's unwritten rows all follow its last checkpoint, so a resume redoes them;
      // its state is still worth recording.
      if (state != "failed") throw;
    }
  }
  hdf5::QuietErrors quiet;
  // Attributes cannot change under SWMR: edit_copy() closes the file and changes a copy.
  edit_copy(false, [&] {
    hid_t file = file_.get();
    Handle origin = hdf5::open_group(file, schema::kProvenance, path_);
    hdf5::write_attribute(origin.get(), "state", state);
    hdf5::write_attribute(origin.get(), "end_time", end_time);
    hdf5::write_integer_attribute(origin.get(), schema::kBestStep, results.best_step);
    origin.close();
    if (results.predictions.empty()) return;
    hdf5::create_group(file, schema::kPredictions, path_);
    for (const auto& [network, predictions] : results.predictions) {
      std::string group = std::string(schema::kPredictions) + "/" + network;
      hdf5::create_group(file, group, path_);
      write_tensor_dataset(file, group + "/indices", predictions.indices, path_);
      write_tensor_dataset(file, group + "/predicted", predictions.predicted, path_);
      write_tensor_dataset(file, group + "/correct", predictions.correct.to(torch::kChar), path_);
    }
  });
  finished_ = true;
}

}  // namespace guidance
