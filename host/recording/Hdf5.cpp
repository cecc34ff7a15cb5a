#include "host/recording/Hdf5.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <functional>
#include <memory>
#include <sstream>
#include <thread>
#include <utility>

#include "host/common/Errors.h"
#include "host/common/Fnv1a.h"

namespace guidance::hdf5 {

Handle::Handle(Handle&& other) noexcept
    : id_(std::exchange(other.id_, -1)), close_(other.close_) {}

Handle& Handle::operator=(Handle&& other) noexcept {
  if (this != &other) {
    close();
    id_ = std::exchange(other.id_, -1);
    close_ = other.close_;
  }
  return *this;
}

Handle::~Handle() { close(); }

bool Handle::close() {
  if (id_ < 0 || close_ == nullptr) return true;
  herr_t status = close_(std::exchange(id_, -1));
  return status >= 0;
}

QuietErrors::QuietErrors() {
  H5Eget_auto2(H5E_DEFAULT, &previous_, &previous_data_);
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
}

QuietErrors::~QuietErrors() { H5Eset_auto2(H5E_DEFAULT, previous_, previous_data_); }

namespace {

// What the current thread's HDF5 error stack says, outermost message first.
struct ErrorStack {
  std::vector<std::string> messages;
  bool filter_failed = false;    // the filter pipeline refused a chunk it read
  bool checksum_failed = false;  // ... because the chunk fails its Fletcher-32 checksum
};

herr_t collect_error(unsigned /*n*/, const H5E_error2_t* error, void* data) {
  auto* stack = static_cast<ErrorStack*>(data);
  std::string text = error->desc != nullptr ? error->desc : "";
  if (!text.empty()) stack->messages.push_back(text);
  stack->filter_failed = stack->filter_failed || error->maj_num == H5E_PLINE;
  // H5Zfletcher32.c: "data error detected by fletcher32 checksum".
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  stack->checksum_failed = stack->checksum_failed || text.find("fletcher32") != std::string::npos;
  return 0;
}

ErrorStack take_error_stack() {
  ErrorStack stack;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, collect_error, &stack);
  H5Eclear2(H5E_DEFAULT);
  return stack;
}

std::string text_of(const ErrorStack& stack) {
  const std::vector<std::string>& messages = stack.messages;
  if (messages.empty()) return "HDF5 reported an error without a message";
  // The outermost message says what failed, the innermost why (e.g. errno 28, no space left).
  if (messages.size() == 1) return messages.front();
  return messages.front() + " (" + messages.back() + ")";
}

// @return the name `get` (H5Iget_name, H5Fget_name) gives an open object; "?" when it has none.
std::string name_of(hid_t object, ssize_t (*get)(hid_t, char*, size_t)) {
  ssize_t size = get(object, nullptr, 0);
  if (size <= 0) return "?";
  std::string name(static_cast<size_t>(size) + 1, '\0');
  get(object, name.data(), name.size());
  name.resize(static_cast<size_t>(size));
  return name;
}

// @return the path of an open object without its leading '/' (e.g. "snapshots/step"); "/" for
// the root group.
std::string object_name(hid_t object) {
  std::string name = name_of(object, H5Iget_name);
  return name.size() > 1 && name.front() == '/' ? name.substr(1) : name;
}

std::string damaged_dataset(const std::string& file, hid_t dataset) {
  return file + ": dataset '" + object_name(dataset) +
         "' is damaged (its checksum does not match its contents)";
}

bool opened_as_swmr_reader(hid_t object) {
  Handle file(H5Iget_file_id(object), H5Fclose);
  unsigned intent = 0;
  return file && H5Fget_intent(file.get(), &intent) >= 0 && (intent & H5F_ACC_SWMR_READ) != 0;
}

// Reads of a chunk a SWMR reader makes after its checksum failed: a writer rewriting the chunk in
// place may have been caught half-way (HDF5 retries metadata reads the same way).
constexpr int kChunkReadAttempts = 4;

// Runs `read` (an H5Dread of `dataset`); a failure becomes a RunError naming `file` and the
// dataset, which says "is damaged" when the filter pipeline refused a chunk.
void read_dataset(hid_t dataset, const std::string& file, const std::function<herr_t()>& read) {
  for (int attempt = 1;; ++attempt) {
    if (read() >= 0) return;
    ErrorStack stack = take_error_stack();
    if (stack.filter_failed && attempt < kChunkReadAttempts && opened_as_swmr_reader(dataset)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10 * attempt));
      continue;
    }
    if (stack.checksum_failed) throw RunError(damaged_dataset(file, dataset));
    if (stack.filter_failed) {
      // Records of format version 3 and older have no checksums: a damaged chunk shows here.
      throw RunError(file + ": dataset '" + object_name(dataset) +
                     "' is damaged (its compressed data cannot be decoded: " + text_of(stack) +
                     ")");
    }
    throw RunError(file + ": cannot read dataset '" + object_name(dataset) +
                   "': " + text_of(stack));
  }
}

}  // namespace

std::string error_stack_text() { return text_of(take_error_stack()); }

void skip_cleanup_at_exit() { H5dont_atexit(); }

Handle checked(hid_t id, herr_t (*close)(hid_t), const std::string& context) {
  if (id < 0) throw RunError(context + ": " + error_stack_text());
  return Handle(id, close);
}

void check(herr_t status, const std::string& context) {
  if (status < 0) throw RunError(context + ": " + error_stack_text());
}

bool exists(hid_t location, const std::string& path) {
  // H5Lexists fails (rather than answering false) when an intermediate link is missing, so each
  // prefix is checked in turn.
  std::string prefix;
  std::stringstream parts(path);
  std::string part;
  while (std::getline(parts, part, '/')) {
    if (part.empty()) continue;
    prefix += (prefix.empty() ? "" : "/") + part;
    if (H5Lexists(location, prefix.c_str(), H5P_DEFAULT) <= 0) return false;
  }
  return true;
}

Handle open_group(hid_t location, const std::string& path, const std::string& file) {
  if (!exists(location, path)) throw RunError(file + ": no group '" + path + "'");
  return checked(H5Gopen2(location, path.c_str(), H5P_DEFAULT), H5Gclose,
                 file + ": cannot open group '" + path + "'");
}

Handle open_dataset(hid_t location, const std::string& path, const std::string& file) {
  if (!exists(location, path)) throw RunError(file + ": no dataset '" + path + "'");
  return checked(H5Dopen2(location, path.c_str(), H5P_DEFAULT), H5Dclose,
                 file + ": cannot open dataset '" + path + "'");
}

Handle create_group(hid_t location, const std::string& path, const std::string& file) {
  Handle links = checked(H5Pcreate(H5P_LINK_CREATE), H5Pclose, file + ": property list");
  check(H5Pset_create_intermediate_group(links.get(), 1), file + ": property list");
  return checked(H5Gcreate2(location, path.c_str(), links.get(), H5P_DEFAULT, H5P_DEFAULT),
                 H5Gclose, file + ": cannot create group '" + path + "'");
}

std::vector<hsize_t> shape_of(hid_t dataset) {
  Handle space = checked(H5Dget_space(dataset), H5Sclose, "dataspace");
  int rank = H5Sget_simple_extent_ndims(space.get());
  std::vector<hsize_t> dims(static_cast<size_t>(rank > 0 ? rank : 0));
  if (rank > 0) H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  return dims;
}

namespace {

// @return the file space of `dataset` with the block [start, start + count) selected.
Handle select_block(hid_t dataset, const std::vector<hsize_t>& start,
                    const std::vector<hsize_t>& count, const std::string& context) {
  Handle file_space = checked(H5Dget_space(dataset), H5Sclose, context);
  check(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(),
                            nullptr),
        context);
  return file_space;
}

Handle block_space(const std::vector<hsize_t>& count, const std::string& context) {
  return checked(H5Screate_simple(static_cast<int>(count.size()), count.data(), nullptr),
                 H5Sclose, context);
}

}  // namespace

void write_block(hid_t dataset, hid_t memory_type, const std::vector<hsize_t>& start,
                 const std::vector<hsize_t>& count, const void* data, const std::string& context) {
  Handle file_space = select_block(dataset, start, count, context);
  if (H5Sget_select_npoints(file_space.get()) == 0) return;
  check(H5Dwrite(dataset, memory_type, block_space(count, context).get(), file_space.get(),
                 H5P_DEFAULT, data),
        context);
}

void read_block(hid_t dataset, hid_t memory_type, const std::vector<hsize_t>& start,
                const std::vector<hsize_t>& count, void* buffer, const std::string& file) {
  std::string context = file + ": cannot read dataset '" + object_name(dataset) + "'";
  Handle file_space = select_block(dataset, start, count, context);
  if (H5Sget_select_npoints(file_space.get()) == 0) return;
  Handle memory_space = block_space(count, context);
  read_dataset(dataset, file, [&] {
    return H5Dread(dataset, memory_type, memory_space.get(), file_space.get(), H5P_DEFAULT,
                   buffer);
  });
}

namespace {

// A fixed dataset is one chunk up to this size (HDF5 refuses chunks of 4 GiB); a larger one is
// split along its first dimension.
constexpr uint64_t kMaxFixedChunkBytes = 256 << 20;

// The creation property list of every dataset that holds data: chunked as `chunk`, shuffled and
// deflated when `compress`, then Fletcher-32 last, so the checksum covers the bytes as stored. A
// chunk with a zero dimension (an empty fixed dataset) leaves the dataset contiguous: HDF5 has no
// empty chunks, and there is nothing to checksum.
Handle checksummed_creation(const std::vector<hsize_t>& chunk, bool compress,
                            const std::string& context) {
  Handle properties = checked(H5Pcreate(H5P_DATASET_CREATE), H5Pclose, context);
  if (chunk.empty() || std::find(chunk.begin(), chunk.end(), 0) != chunk.end()) return properties;
  check(H5Pset_chunk(properties.get(), static_cast<int>(chunk.size()), chunk.data()), context);
  if (compress) {
    check(H5Pset_shuffle(properties.get()), context);
    check(H5Pset_deflate(properties.get(), 4), context);
  }
  check(H5Pset_fletcher32(properties.get()), context);
  return properties;
}

}  // namespace

void create_extendible(hid_t location, const std::string& name, hid_t type,
                       const std::vector<hsize_t>& inner, std::vector<hsize_t> chunk,
                       bool compress, const std::string& file) {
  std::vector<hsize_t> dims{0};
  std::vector<hsize_t> max_dims{H5S_UNLIMITED};
  for (hsize_t size : inner) {
    dims.push_back(size);
    // HDF5 wants every chunk dimension positive and within the maximum.
    max_dims.push_back(size > 0 ? size : H5S_UNLIMITED);
  }
  for (hsize_t& size : chunk) size = std::max<hsize_t>(size, 1);
  std::string context = file + ": cannot create dataset '" + name + "'";
  Handle space = checked(H5Screate_simple(static_cast<int>(dims.size()), dims.data(),
                                          max_dims.data()),
                         H5Sclose, context);
  Handle properties = checksummed_creation(chunk, compress, context);
  checked(H5Dcreate2(location, name.c_str(), type, space.get(), H5P_DEFAULT, properties.get(),
                     H5P_DEFAULT),
          H5Dclose, context);
}

void write_dataset(hid_t location, const std::string& name, hid_t type,
                   const std::vector<hsize_t>& dims, hid_t memory_type, const void* data,
                   const std::string& file) {
  std::string context = file + ": cannot write dataset '" + name + "'";
  std::vector<hsize_t> chunk = dims;
  uint64_t row_bytes = H5Tget_size(type);
  for (size_t d = 1; d < dims.size(); ++d) row_bytes *= std::max<hsize_t>(dims[d], 1);
  if (!chunk.empty()) {
    chunk[0] = std::min<hsize_t>(dims[0], std::max<uint64_t>(1, kMaxFixedChunkBytes / row_bytes));
  }
  Handle space = checked(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
                         H5Sclose, context);
  Handle properties = checksummed_creation(chunk, false, context);
  Handle dataset = checked(H5Dcreate2(location, name.c_str(), type, space.get(), H5P_DEFAULT,
                                      properties.get(), H5P_DEFAULT),
                           H5Dclose, context);
  if (H5Sget_simple_extent_npoints(space.get()) > 0) {
    check(H5Dwrite(dataset.get(), memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), context);
  }
}

void write_rows(hid_t location, const std::string& path, hid_t memory_type, int64_t first,
                int64_t count, const void* data, const std::string& file) {
  Handle dataset = open_dataset(location, path, file);
  std::string context = file + ": cannot write rows " + std::to_string(first) + ".." +
                        std::to_string(first + count - 1) + " of '" + path + "'";
  std::vector<hsize_t> dims = shape_of(dataset.get());
  dims[0] = static_cast<hsize_t>(first + count);
  check(H5Dset_extent(dataset.get(), dims.data()), context);
  std::vector<hsize_t> start(dims.size(), 0);
  std::vector<hsize_t> counts = dims;
  start[0] = static_cast<hsize_t>(first);
  counts[0] = static_cast<hsize_t>(count);
  write_block(dataset.get(), memory_type, start, counts, data, context);
  check(H5Dflush(dataset.get()), context);
}

void truncate_group(hid_t location, const std::string& group, int64_t keep,
                    const std::string& file) {
  Handle handle = open_group(location, group, file);
  for (const auto& member : member_names(handle.get())) {
    std::string path = group + "/" + member;
    Handle object = checked(H5Oopen(location, path.c_str(), H5P_DEFAULT), H5Oclose,
                            file + ": cannot open '" + path + "'");
    if (H5Iget_type(object.get()) == H5I_GROUP) {
      truncate_group(location, path, keep, file);
      continue;
    }
    std::vector<hsize_t> dims = shape_of(object.get());
    if (dims.empty()) continue;
    if (dims[0] < static_cast<hsize_t>(keep)) {
      throw RunError(file + ": dataset '" + path + "' holds " + std::to_string(dims[0]) +
                     " rows, fewer than the " + std::to_string(keep) +
                     " its step column says were written");
    }
    dims[0] = static_cast<hsize_t>(keep);
    check(H5Dset_extent(object.get(), dims.data()), file + ": cannot truncate '" + path + "'");
  }
}

namespace {

Handle variable_utf8_string_type() {
  Handle type = checked(H5Tcopy(H5T_C_S1), H5Tclose, "string type");
  check(H5Tset_size(type.get(), H5T_VARIABLE), "string type");
  check(H5Tset_cset(type.get(), H5T_CSET_UTF8), "string type");
  return type;
}

// Strings are written fixed-length (format version 5), padded with NULs: HDF5 1.10 keeps
// variable-length strings in a global heap that it reads without bounds checks, so damage there
// crashed every reader, h5py included. The width is the longest value's (at least 1).
Handle fixed_utf8_string_type(size_t width) {
  Handle type = checked(H5Tcopy(H5T_C_S1), H5Tclose, "string type");
  check(H5Tset_size(type.get(), std::max<size_t>(width, 1)), "string type");
  check(H5Tset_strpad(type.get(), H5T_STR_NULLPAD), "string type");
  check(H5Tset_cset(type.get(), H5T_CSET_UTF8), "string type");
  return type;
}

/// The values packed at a common width, with their type. A NUL inside a value would end it early
/// on reading, so it is refused here.
struct PackedStrings {
  Handle type;
  std::vector<char> bytes;
};

PackedStrings packed(const std::vector<std::string>& values, const std::string& name) {
  size_t width = 1;
  for (const auto& value : values) {
    if (value.find('\0') != std::string::npos) {
      throw RunError("cannot write '" + name + "': a string in a record cannot hold a NUL byte");
    }
    width = std::max(width, value.size());
  }
  // HDF5 refuses a null buffer even for zero elements (an unguided run has no layer pairs).
  std::vector<char> bytes(width * std::max<size_t>(values.size(), 1), '\0');
  for (size_t i = 0; i < values.size(); ++i) {
    std::copy(values[i].begin(), values[i].end(), bytes.begin() + static_cast<long>(i * width));
  }
  return {fixed_utf8_string_type(width), std::move(bytes)};
}

}  // namespace

namespace {

uint64_t hash_length(uint64_t hash, uint64_t length) {
  unsigned char bytes[8];
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<unsigned char>(length >> (8 * i));
  return fnv1a(hash, bytes, sizeof(bytes));
}

}  // namespace

uint64_t strings_checksum(uint64_t hash, const std::vector<std::string>& strings) {
  hash = hash_length(hash, strings.size());
  for (const auto& value : strings) {
    hash = hash_length(hash, value.size());
    hash = fnv1a(hash, value.data(), value.size());
  }
  return hash;
}

namespace {

Handle make_space(const std::vector<std::string>* list) {
  if (list == nullptr) return checked(H5Screate(H5S_SCALAR), H5Sclose, "dataspace");
  hsize_t size = list->size();
  return checked(H5Screate_simple(1, &size, nullptr), H5Sclose, "dataspace");
}

void write_attribute_data(hid_t object, const std::string& name, hid_t file_type, hid_t space,
                          hid_t memory_type, const void* data) {
  if (H5Aexists(object, name.c_str()) > 0) {
    check(H5Adelete(object, name.c_str()), "cannot replace attribute '" + name + "'");
  }
  Handle attribute = checked(H5Acreate2(object, name.c_str(), file_type, space, H5P_DEFAULT,
                                        H5P_DEFAULT),
                             H5Aclose, "cannot create attribute '" + name + "'");
  check(H5Awrite(attribute.get(), memory_type, data), "cannot write attribute '" + name + "'");
}

// Reads every string held by an attribute or dataset, whatever its string flavour.
template <typename Read>
std::vector<std::string> read_strings(hid_t file_type, hid_t space, Read read,
                                      const std::string& context) {
  if (H5Tget_class(file_type) != H5T_STRING) throw RunError(context + " does not hold strings");
  hssize_t count = H5Sget_simple_extent_npoints(space);
  if (count < 0) throw RunError(context + ": unreadable dataspace");
  std::vector<std::string> values;
  if (H5Tis_variable_str(file_type) > 0) {
    Handle memory = variable_utf8_string_type();
    std::vector<char*> pointers(static_cast<size_t>(count), nullptr);
    if (count > 0) {
      check(read(memory.get(), pointers.data()), context);
      for (char* pointer : pointers) values.emplace_back(pointer != nullptr ? pointer : "");
      H5Dvlen_reclaim(memory.get(), space, H5P_DEFAULT, pointers.data());
    }
  } else {
    size_t width = H5Tget_size(file_type);
    // The file's own type (HDF5 converts no character sets), null-padded in memory: a
    // null-terminated type would give up the last byte of a value as long as the width.
    Handle memory = checked(H5Tcopy(file_type), H5Tclose, context);
    check(H5Tset_strpad(memory.get(), H5T_STR_NULLPAD), context);
    std::vector<char> buffer(width * static_cast<size_t>(count) + 1, '\0');
    if (count > 0) check(read(memory.get(), buffer.data()), context);
    for (hssize_t i = 0; i < count; ++i) {
      const char* start = buffer.data() + static_cast<size_t>(i) * width;
      size_t length = 0;
      while (length < width && start[length] != '\0') ++length;
      values.emplace_back(start, length);
    }
  }
  return values;
}

// An existing attribute, opened; one that cannot be looked up (a damaged object header fails
// HDF5's own checksum) is reported with HDF5's reason, not as missing.
Handle open_attribute(hid_t object, const std::string& name, const std::string& context) {
  std::string where = context + " of '" + object_name(object) + "'";  // before HDF5's error
  htri_t exists = H5Aexists(object, name.c_str());
  check(exists, where);
  if (exists == 0) throw RunError(context + " is missing");
  return checked(H5Aopen(object, name.c_str(), H5P_DEFAULT), H5Aclose, context);
}

// The strings of one attribute, unchecked: see verified_attribute_strings.
std::vector<std::string> attribute_strings(hid_t object, const std::string& name,
                                           const std::string& file) {
  std::string context = file + ": attribute '" + name + "'";
  Handle attribute = open_attribute(object, name, context);
  Handle type = checked(H5Aget_type(attribute.get()), H5Tclose, context);
  Handle space = checked(H5Aget_space(attribute.get()), H5Sclose, context);
  return read_strings(
      type.get(), space.get(),
      [&](hid_t memory, void* buffer) { return H5Aread(attribute.get(), memory, buffer); },
      context);
}

herr_t collect_attribute_name(hid_t /*object*/, const char* name, const H5A_info_t* /*info*/,
                              void* data) {
  static_cast<std::vector<std::string>*>(data)->emplace_back(name);
  return 0;
}

// @return the names of an object's attributes in byte order (what the checksum goes by).
std::vector<std::string> attribute_names(hid_t object, const std::string& file) {
  std::vector<std::string> names;
  check(H5Aiterate2(object, H5_INDEX_NAME, H5_ITER_INC, nullptr, collect_attribute_name, &names),
        file + ": cannot list the attributes of '" + object_name(object) + "'");
  std::sort(names.begin(), names.end());
  return names;
}

bool is_string_attribute(hid_t object, const std::string& name, const std::string& file) {
  std::string context = file + ": attribute '" + name + "' of '" + object_name(object) + "'";
  Handle attribute = checked(H5Aopen(object, name.c_str(), H5P_DEFAULT), H5Aclose, context);
  Handle type = checked(H5Aget_type(attribute.get()), H5Tclose, context);
  return H5Tget_class(type.get()) == H5T_STRING;
}

// The value kStringAttributesChecksum holds for an object's current string attributes.
uint64_t string_attributes_checksum(hid_t object, const std::string& file) {
  uint64_t hash = kFnv1aOffsetBasis;
  for (const auto& name : attribute_names(object, file)) {
    if (!is_string_attribute(object, name, file)) continue;
    hash = strings_checksum(hash, {name});
    hash = strings_checksum(hash, attribute_strings(object, name, file));
  }
  return hash;
}

// Throws RunError when an object has a kStringAttributesChecksum its string attributes fail.
void verify_string_attributes(hid_t object, const std::string& file) {
  if (H5Aexists(object, kStringAttributesChecksum) <= 0) return;
  if (read_unsigned_attribute(object, kStringAttributesChecksum, file) !=
      string_attributes_checksum(object, file)) {
    throw RunError(file + ": the string attributes of '" + object_name(object) +
                   "' are damaged (their checksum does not match their contents)");
  }
}

std::vector<std::string> verified_attribute_strings(hid_t object, const std::string& name,
                                                    const std::string& file) {
  std::vector<std::string> values = attribute_strings(object, name, file);
  verify_string_attributes(object, file);
  return values;
}

// Writes a string attribute and the object's kStringAttributesChecksum anew; the attributes there
// must pass their checksum first, or the new one would bless their damage.
void write_string_attribute(hid_t object, const std::string& name, hid_t space,
                            const std::vector<std::string>& values) {
  std::string file = name_of(object, H5Fget_name);
  verify_string_attributes(object, file);
  PackedStrings strings = packed(values, name);
  write_attribute_data(object, name, strings.type.get(), space, strings.type.get(),
                       strings.bytes.data());
  write_unsigned_attribute(object, kStringAttributesChecksum,
                           string_attributes_checksum(object, file));
}

template <typename T>
std::vector<T> read_numbers(hid_t location, const std::string& path, const std::string& file,
                            hid_t memory_type) {
  Handle dataset = open_dataset(location, path, file);
  Handle space = checked(H5Dget_space(dataset.get()), H5Sclose, file + ": " + path);
  hssize_t count = H5Sget_simple_extent_npoints(space.get());
  std::vector<T> values(static_cast<size_t>(count > 0 ? count : 0));
  if (!values.empty()) {
    read_dataset(dataset.get(), file, [&] {
      return H5Dread(dataset.get(), memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data());
    });
  }
  return values;
}

}  // namespace

void write_attribute(hid_t object, const std::string& name, const std::string& value) {
  write_string_attribute(object, name, make_space(nullptr).get(), {value});
}

void write_attribute(hid_t object, const std::string& name,
                     const std::vector<std::string>& value) {
  write_string_attribute(object, name, make_space(&value).get(), value);
}

void write_integer_attribute(hid_t object, const std::string& name, int64_t value) {
  Handle space = make_space(nullptr);
  write_attribute_data(object, name, H5T_STD_I64LE, space.get(), H5T_NATIVE_INT64, &value);
}

void write_unsigned_attribute(hid_t object, const std::string& name, uint64_t value) {
  Handle space = make_space(nullptr);
  write_attribute_data(object, name, H5T_STD_U64LE, space.get(), H5T_NATIVE_UINT64, &value);
}

void write_integers_attribute(hid_t object, const std::string& name,
                              const std::vector<int64_t>& values) {
  hsize_t size = values.size();
  Handle space = checked(H5Screate_simple(1, &size, nullptr), H5Sclose, "dataspace");
  // HDF5 refuses a null buffer even for zero elements (a tap of one value per example).
  const int64_t none = 0;
  write_attribute_data(object, name, H5T_STD_I64LE, space.get(), H5T_NATIVE_INT64,
                       values.empty() ? &none : values.data());
}

std::string read_string_attribute(hid_t object, const std::string& name,
                                  const std::string& file) {
  std::vector<std::string> values = verified_attribute_strings(object, name, file);
  if (values.size() != 1) {
    throw RunError(file + ": attribute '" + name + "' holds " + std::to_string(values.size()) +
                   " strings, expected one");
  }
  return values.front();
}

std::vector<std::string> read_strings_attribute(hid_t object, const std::string& name,
                                                const std::string& file) {
  return verified_attribute_strings(object, name, file);
}

namespace {

template <typename T>
T read_number_attribute(hid_t object, const std::string& name, const std::string& file,
                        hid_t memory_type) {
  std::string context = file + ": attribute '" + name + "'";
  Handle attribute = open_attribute(object, name, context);
  T value = 0;
  check(H5Aread(attribute.get(), memory_type, &value), context);
  return value;
}

}  // namespace

std::vector<int64_t> read_integers_attribute(hid_t object, const std::string& name,
                                             const std::string& file) {
  std::string context = file + ": attribute '" + name + "'";
  Handle attribute = open_attribute(object, name, context);
  Handle space = checked(H5Aget_space(attribute.get()), H5Sclose, context);
  hssize_t count = H5Sget_simple_extent_npoints(space.get());
  if (count < 0 || H5Sget_simple_extent_ndims(space.get()) != 1) {
    throw RunError(context + " is not a one-dimensional array");
  }
  std::vector<int64_t> values(static_cast<size_t>(count));
  if (!values.empty()) check(H5Aread(attribute.get(), H5T_NATIVE_INT64, values.data()), context);
  return values;
}

int64_t read_integer_attribute(hid_t object, const std::string& name, const std::string& file) {
  return read_number_attribute<int64_t>(object, name, file, H5T_NATIVE_INT64);
}

uint64_t read_unsigned_attribute(hid_t object, const std::string& name, const std::string& file) {
  return read_number_attribute<uint64_t>(object, name, file, H5T_NATIVE_UINT64);
}

namespace {

// Creates a string dataset of `space` holding `values` (row-major) and its kStringsChecksum.
void write_strings(hid_t location, const std::string& name, hid_t space,
                   const std::vector<std::string>& values) {
  PackedStrings strings = packed(values, name);
  Handle dataset = checked(H5Dcreate2(location, name.c_str(), strings.type.get(), space,
                                      H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                           H5Dclose, "cannot create dataset '" + name + "'");
  if (!values.empty()) {
    check(H5Dwrite(dataset.get(), strings.type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT,
                   strings.bytes.data()),
          "cannot write dataset '" + name + "'");
  }
  write_unsigned_attribute(dataset.get(), kStringsChecksum,
                           strings_checksum(kFnv1aOffsetBasis, values));
}

// The strings of an open dataset, checked against its kStringsChecksum when it has one.
std::vector<std::string> dataset_strings(hid_t dataset, const std::string& file) {
  std::string context = file + ": dataset '" + object_name(dataset) + "'";
  Handle type = checked(H5Dget_type(dataset), H5Tclose, context);
  Handle space = checked(H5Dget_space(dataset), H5Sclose, context);
  std::vector<std::string> values = read_strings(
      type.get(), space.get(),
      [&](hid_t memory, void* buffer) {
        read_dataset(dataset, file, [&] {
          return H5Dread(dataset, memory, H5S_ALL, H5S_ALL, H5P_DEFAULT, buffer);
        });
        return herr_t{0};
      },
      context);
  if (H5Aexists(dataset, kStringsChecksum) > 0 &&
      read_unsigned_attribute(dataset, kStringsChecksum, file) !=
          strings_checksum(kFnv1aOffsetBasis, values)) {
    throw RunError(damaged_dataset(file, dataset));
  }
  return values;
}

}  // namespace

void write_string_dataset(hid_t location, const std::string& name, const std::string& value) {
  write_strings(location, name, make_space(nullptr).get(), {value});
}

void write_strings_dataset(hid_t location, const std::string& name,
                           const std::vector<std::string>& values) {
  write_strings(location, name, make_space(&values).get(), values);
}

std::vector<std::string> read_strings_dataset(hid_t location, const std::string& path,
                                              const std::string& file) {
  Handle dataset = open_dataset(location, path, file);
  return dataset_strings(dataset.get(), file);
}

void check_attributes(hid_t object, const std::string& file) {
  for (const auto& name : attribute_names(object, file)) {
    std::string context = file + ": attribute '" + name + "' of '" + object_name(object) + "'";
    if (is_string_attribute(object, name, file)) {
      attribute_strings(object, name, file);
      continue;
    }
    Handle attribute = checked(H5Aopen(object, name.c_str(), H5P_DEFAULT), H5Aclose, context);
    Handle type = checked(H5Aget_type(attribute.get()), H5Tclose, context);
    Handle space = checked(H5Aget_space(attribute.get()), H5Sclose, context);
    hssize_t count = H5Sget_simple_extent_npoints(space.get());
    std::vector<unsigned char> buffer(static_cast<size_t>(std::max<hssize_t>(count, 0)) *
                                      H5Tget_size(type.get()));
    if (!buffer.empty()) check(H5Aread(attribute.get(), type.get(), buffer.data()), context);
  }
  verify_string_attributes(object, file);
}

void check_dataset(hid_t dataset, const std::string& file, uint64_t block_bytes) {
  std::string context = file + ": cannot read dataset '" + object_name(dataset) + "'";
  Handle type = checked(H5Dget_type(dataset), H5Tclose, context);
  if (H5Tget_class(type.get()) == H5T_STRING) {
    dataset_strings(dataset, file);
    return;
  }
  // Read in the file's own type: no conversion, only the filter pipeline (and its checksum).
  size_t element = H5Tget_size(type.get());
  std::vector<hsize_t> dims = shape_of(dataset);
  if (dims.empty()) {
    std::vector<unsigned char> value(element);
    read_dataset(dataset, file, [&] {
      return H5Dread(dataset, type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, value.data());
    });
    return;
  }
  if (std::find(dims.begin(), dims.end(), 0) != dims.end()) return;
  // Blocks of whole chunks (of whole rows for a contiguous dataset), grown along the first
  // dimension up to the budget, so each chunk is read and verified once.
  std::vector<hsize_t> block(dims.size(), 1);
  Handle properties = checked(H5Dget_create_plist(dataset), H5Pclose, context);
  if (H5Pget_layout(properties.get()) == H5D_CHUNKED) {
    check(H5Pget_chunk(properties.get(), static_cast<int>(block.size()), block.data()), context);
  } else {
    std::copy(dims.begin() + 1, dims.end(), block.begin() + 1);
  }
  uint64_t bytes = element;
  for (size_t d = 0; d < dims.size(); ++d) {
    block[d] = std::clamp<hsize_t>(block[d], 1, dims[d]);
    bytes *= block[d];
  }
  block[0] = std::min<hsize_t>(dims[0], block[0] * std::max<uint64_t>(1, block_bytes / bytes));
  uint64_t block_elements = 1;
  for (hsize_t size : block) block_elements *= size;
  std::vector<unsigned char> buffer(block_elements * element);
  std::vector<hsize_t> start(dims.size(), 0);
  std::vector<hsize_t> count(dims.size());
  for (;;) {
    for (size_t d = 0; d < dims.size(); ++d) count[d] = std::min(block[d], dims[d] - start[d]);
    read_block(dataset, type.get(), start, count, buffer.data(), file);
    // The next block, the last dimension moving fastest.
    size_t d = dims.size();
    for (;;) {
      if (d == 0) return;
      --d;
      start[d] += block[d];
      if (start[d] < dims[d]) break;
      start[d] = 0;
    }
  }
}

std::vector<double> read_doubles(hid_t location, const std::string& path,
                                 const std::string& file) {
  return read_numbers<double>(location, path, file, H5T_NATIVE_DOUBLE);
}

std::vector<int64_t> read_integers(hid_t location, const std::string& path,
                                   const std::string& file) {
  return read_numbers<int64_t>(location, path, file, H5T_NATIVE_INT64);
}

namespace {

herr_t collect_name(hid_t /*group*/, const char* name, const H5L_info_t* /*info*/, void* data) {
  static_cast<std::vector<std::string>*>(data)->emplace_back(name);
  return 0;
}

}  // namespace

std::vector<std::string> member_names(hid_t group) {
  std::vector<std::string> names;
  check(H5Literate(group, H5_INDEX_NAME, H5_ITER_INC, nullptr, collect_name, &names),
        "cannot list group members");
  return names;
}

}  // namespace guidance::hdf5
