#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>

#include "host/recording/Hdf5.h"

namespace guidance {

/// The HDF5 file of a record being written, and the rules that keep it safe: it is in SWMR mode
/// whenever nothing but appends happen, every other change is made to a copy renamed over it,
/// and a write that would not fit is refused before it starts. Errors are RunErrors naming the
/// path.
class RecordFile {
 public:
  /// Creates the file at `path` (HDF5 "latest" format), creating missing parent directories.
  /// Refuses to overwrite an existing file, and checks that the directory is writable and has
  /// space for a first flush, before creating anything.
  static RecordFile create(const std::string& path);

  /// The existing file at `path`, not opened yet: edit_copy() it, then reopen_swmr().
  static RecordFile existing(const std::string& path);

  RecordFile(RecordFile&&) = default;
  RecordFile& operator=(RecordFile&&) = default;

  const std::string& path() const { return path_; }
  /// @return the open file's identifier (negative once closed).
  hid_t get() const { return file_.get(); }
  explicit operator bool() const { return static_cast<bool>(file_); }

  /// Enters single-writer/multiple-reader mode: from here on only appends are possible.
  void start_swmr();
  /// Opens the (closed) file for writing and enters SWMR mode.
  void reopen_swmr();

  /// Closes the file and makes `edit` (which works on get()) on a copy that is synced and renamed
  /// over the file, so a kill at any instant leaves the old file or the new one; the file stays
  /// closed afterwards. `repair_killed_writer` first repairs what a killed SWMR writer leaves:
  /// clears its "open for writing" flags and moves the end of allocation to the end of the file
  /// (what `h5clear -s --increment=0` does).
  void edit_copy(bool repair_killed_writer, const std::function<void()>& edit);

  /// Adds objects (which a SWMR writer cannot): edit_copy(), then reopens in SWMR mode.
  void change_structure(const std::function<void()>& create);

  /// Throws RunError, before anything is written, when `bytes` (plus slack for metadata) do not
  /// fit in the free space or under the file size limit; `what` names what was to be written.
  void require_space(uint64_t bytes, const std::string& what) const;

  /// Flushes everything written so far to disk, visible to SWMR readers.
  void flush();

  /// Closes the file. @return false if HDF5 reported an error (data could not be written out).
  bool close() { return file_.close(); }

 private:
  explicit RecordFile(std::string path) : path_(std::move(path)) {}

  std::string path_;
  hdf5::Handle file_;
};

}  // namespace guidance
