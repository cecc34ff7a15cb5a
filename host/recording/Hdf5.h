#pragma once

#include <hdf5.h>

#include <cstdint>
#include <string>
#include <vector>

#include "host/recording/RecordSchema.h"

namespace guidance::hdf5 {

/// An owned HDF5 identifier (file, group, dataset, dataspace, datatype, property list or
/// attribute), closed with the matching H5?close when the handle goes away. Move-only.
class Handle {
 public:
  Handle() = default;
  /// Takes ownership of `id` (which may be negative: an empty handle), closed with `close`.
  Handle(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  Handle(Handle&& other) noexcept;
  Handle& operator=(Handle&& other) noexcept;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle();

  hid_t get() const { return id_; }
  explicit operator bool() const { return id_ >= 0; }

  /// Closes the identifier now. @return false if HDF5 reported an error while closing (for a file:
  /// data could not be written out).
  bool close();

 private:
  hid_t id_ = -1;
  herr_t (*close_)(hid_t) = nullptr;
};

/// Stops HDF5 from closing what is still open when the process exits. Call first in main(): after
/// a failed write (a full disk) HDF5 can crash in its exit handler closing a file whose close had
/// already failed; every record is closed explicitly on the normal paths anyway.
void skip_cleanup_at_exit();

/// While alive, HDF5 stops printing its error stack to stderr (errors still reach the caller as
/// exceptions carrying the stack's messages). Restores the previous handler when destroyed.
class QuietErrors {
 public:
  QuietErrors();
  ~QuietErrors();
  QuietErrors(const QuietErrors&) = delete;
  QuietErrors& operator=(const QuietErrors&) = delete;

 private:
  H5E_auto2_t previous_ = nullptr;
  void* previous_data_ = nullptr;
};

/// @return the outermost message of the current thread's HDF5 error stack (what failed) and, in
/// parentheses, the innermost (why); clears the stack.
std::string error_stack_text();

/// Throws RunError "<context>: <HDF5 error stack>" when `id` is negative; otherwise owns it.
Handle checked(hid_t id, herr_t (*close)(hid_t), const std::string& context);

/// Throws RunError "<context>: <HDF5 error stack>" when `status` is negative.
void check(herr_t status, const std::string& context);

/// @return whether every link along the '/'-separated `path` (relative to `location`) exists.
bool exists(hid_t location, const std::string& path);

/// Opens a group or dataset; throws RunError naming `file` and `path` if it is missing.
Handle open_group(hid_t location, const std::string& path, const std::string& file);
Handle open_dataset(hid_t location, const std::string& path, const std::string& file);

/// Creates a group (intermediate groups too).
Handle create_group(hid_t location, const std::string& path, const std::string& file);

/// @return the current extent of a dataset, one entry per dimension.
std::vector<hsize_t> shape_of(hid_t dataset);

/// Writes `data` (laid out as `count`, in `memory_type`) into the block of `dataset` that starts
/// at `start` and spans `count`; the dataset must already extend that far. Nothing is written for
/// an empty block. Throws RunError "<context>: ..." on failure.
void write_block(hid_t dataset, hid_t memory_type, const std::vector<hsize_t>& start,
                 const std::vector<hsize_t>& count, const void* data, const std::string& context);
/// Reads the block of `dataset` at `start` spanning `count` into `buffer` (laid out as `count`, in
/// `memory_type`, converted by HDF5, e.g. float16 to float32). Throws RunError naming `file` and
/// the dataset: "<file>: dataset '<path>' is damaged (its checksum does not match its contents)"
/// when a chunk fails its Fletcher-32 checksum. A SWMR reader reads such a chunk again a few
/// times first (a writer may be rewriting it in place).
void read_block(hid_t dataset, hid_t memory_type, const std::vector<hsize_t>& start,
                const std::vector<hsize_t>& count, void* buffer, const std::string& file);

/// Creates a chunked dataset [0, inner...] that grows along its first dimension (an inner size
/// of 0 is left unlimited); `compress` adds shuffle + gzip; every chunk carries a Fletcher-32
/// checksum that HDF5 verifies on each read. Throws RunError naming `file`.
void create_extendible(hid_t location, const std::string& name, hid_t type,
                       const std::vector<hsize_t>& inner, std::vector<hsize_t> chunk,
                       bool compress, const std::string& file);

/// Creates a dataset of the fixed shape `dims` (file type `type`) holding `data` (laid out as
/// `dims`, in `memory_type`): chunked whole, with a Fletcher-32 checksum, unless it is empty (an
/// empty one stays contiguous: HDF5 has no chunks of size 0). Throws RunError naming `file`.
void write_dataset(hid_t location, const std::string& name, hid_t type,
                   const std::vector<hsize_t>& dims, hid_t memory_type, const void* data,
                   const std::string& file);

/// Writes rows [first, first + count) of a dataset whose first dimension grows, extending it to
/// exactly first + count rows (so a retried write lands on the same rows), then flushes it.
void write_rows(hid_t location, const std::string& path, hid_t memory_type, int64_t first,
                int64_t count, const void* data, const std::string& file);

/// Shrinks every dataset under `group` (recursively) to `keep` rows; throws RunError naming
/// `file` when one holds fewer.
void truncate_group(hid_t location, const std::string& group, int64_t keep,
                    const std::string& file);

/// The checksum attributes the helpers below write and check; their names are the record's
/// (RecordSchema.h).
using record_schema::kStringAttributesChecksum;
using record_schema::kStringsChecksum;

/// @return FNV-1a 64 (host/common/Fnv1a.h) continued from `hash` over `strings`: their count,
/// then each string's length and UTF-8 bytes; counts and lengths as 8 little-endian bytes.
uint64_t strings_checksum(uint64_t hash, const std::vector<std::string>& strings);

/// Writes (or replaces) a scalar string attribute on an object, and its kStringAttributesChecksum.
/// Throws RunError when the object's string attributes already fail their checksum (rewriting it
/// would hide the damage).
void write_attribute(hid_t object, const std::string& name, const std::string& value);
/// Writes (or replaces) a one-dimensional string-array attribute on an object, as above.
void write_attribute(hid_t object, const std::string& name, const std::vector<std::string>& value);
/// Writes (or replaces) a scalar signed 64-bit integer attribute on an object.
void write_integer_attribute(hid_t object, const std::string& name, int64_t value);
/// Writes (or replaces) a scalar unsigned 64-bit integer attribute on an object.
void write_unsigned_attribute(hid_t object, const std::string& name, uint64_t value);
/// Writes (or replaces) a one-dimensional signed 64-bit integer attribute on an object.
void write_integers_attribute(hid_t object, const std::string& name,
                              const std::vector<int64_t>& values);

/// @return a string attribute (fixed or variable length, scalar); throws RunError naming `file`,
/// also when the object has a kStringAttributesChecksum that its string attributes fail.
std::string read_string_attribute(hid_t object, const std::string& name, const std::string& file);
/// @return a one-dimensional string-array attribute; throws RunError naming `file` (as above).
std::vector<std::string> read_strings_attribute(hid_t object, const std::string& name,
                                                const std::string& file);
/// @return an integer attribute converted to int64; throws RunError naming `file`.
int64_t read_integer_attribute(hid_t object, const std::string& name, const std::string& file);
/// @return an integer attribute converted to uint64; throws RunError naming `file`.
uint64_t read_unsigned_attribute(hid_t object, const std::string& name, const std::string& file);
/// @return a one-dimensional integer attribute converted to int64; throws RunError naming `file`.
std::vector<int64_t> read_integers_attribute(hid_t object, const std::string& name,
                                             const std::string& file);

/// Creates a scalar string dataset holding `value`, with its kStringsChecksum.
void write_string_dataset(hid_t location, const std::string& name, const std::string& value);
/// Creates a one-dimensional string dataset holding `values` (an empty list makes a [0] dataset),
/// with its kStringsChecksum.
void write_strings_dataset(hid_t location, const std::string& name,
                           const std::vector<std::string>& values);

/// @return the strings of a scalar or one-dimensional string dataset (fixed or variable length);
/// throws RunError naming `file` and the dataset, "is damaged" when it has a kStringsChecksum its
/// strings fail.
std::vector<std::string> read_strings_dataset(hid_t location, const std::string& path,
                                              const std::string& file);

/// Reads every attribute of an object and checks its kStringAttributesChecksum (when present).
/// Throws RunError naming `file` and the object.
void check_attributes(hid_t object, const std::string& file);
/// Reads every element of a dataset, in blocks of whole chunks of at most about `block_bytes`
/// (at least one chunk), so that HDF5 verifies each chunk's Fletcher-32 checksum once; a string
/// dataset's kStringsChecksum is checked too. Throws RunError naming `file` and the dataset.
void check_dataset(hid_t dataset, const std::string& file, uint64_t block_bytes);

/// @return every element of a numeric dataset converted to double, row-major.
std::vector<double> read_doubles(hid_t location, const std::string& path, const std::string& file);
/// @return every element of an integer dataset converted to int64, row-major.
std::vector<int64_t> read_integers(hid_t location, const std::string& path,
                                   const std::string& file);

/// @return the names of the links directly inside a group, in name order.
std::vector<std::string> member_names(hid_t group);

}  // namespace guidance::hdf5
