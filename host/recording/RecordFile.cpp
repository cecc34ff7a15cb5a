#include "host/recording/RecordFile.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>

#include "host/common/Errors.h"

namespace guidance {

namespace fs = std::filesystem;
using hdf5::check;
using hdf5::checked;
using hdf5::Handle;

namespace {

// A first flush writes the metadata of every dataset plus a chunk of rows: well under this.
constexpr uint64_t kFirstFlushBytes = 1 << 20;
// Slack for the metadata a write updates (object headers, B-trees, free space): see require_space.
constexpr uint64_t kMetadataSlackBytes = 32 << 10;

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
      throw RunError("not enough space for the record " + path + ": " + std::to_string(available) +
                     " bytes free in " + directory.string() + ", a first flush needs about " +
                     std::to_string(kFirstFlushBytes));
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

RecordFile RecordFile::create(const std::string& path) {
  check_destination(path);
  RecordFile record(path);
  Handle access = file_access(false);
  record.file_ = checked(H5Fcreate(path.c_str(), H5F_ACC_EXCL, H5P_DEFAULT, access.get()), H5Fclose,
                         "cannot create the record " + path);
  return record;
}

RecordFile RecordFile::existing(const std::string& path) { return RecordFile(path); }

void RecordFile::reopen_swmr() {
  Handle access = file_access(false);
  file_ = checked(H5Fopen(path_.c_str(), H5F_ACC_RDWR, access.get()), H5Fclose,
                  "cannot open the record " + path_ + " for writing");
  start_swmr();
}

void RecordFile::start_swmr() {
  check(H5Fstart_swmr_write(file_.get()),
        "cannot start single-writer/multiple-reader mode on " + path_);
}

void RecordFile::flush() {
  check(H5Fflush(file_.get(), H5F_SCOPE_GLOBAL), "cannot flush the record " + path_);
}

void RecordFile::edit_copy(bool repair_killed_writer, const std::function<void()>& edit) {
  // HDF5 promises nothing about a file killed while it is changed outside SWMR mode, so every
  // such change is made to a copy that replaces the record by a rename: a kill at any instant
  // leaves the old file or the new one. The copy's name is unique to this process; a run
  // directory's lock holder removes leftovers of killed ones.
  if (file_ && !file_.close()) throw RunError("cannot close the record " + path_ + " to change it");
  std::string copy = path_ + ".partial." + std::to_string(getpid());
  std::error_code error;
  fs::copy_file(path_, copy, fs::copy_options::overwrite_existing, error);
  if (error) {
    // The cleanup has its own error code: it must not replace the copy's in the message.
    std::error_code ignored;
    fs::remove(copy, ignored);
    throw RunError("cannot copy the record " + path_ + " to change it (" + copy +
                   "): " + error.message() + "; the record is unchanged");
  }
  try {
    Handle access = file_access(repair_killed_writer);
    file_ = checked(H5Fopen(copy.c_str(), H5F_ACC_RDWR, access.get()), H5Fclose,
                    "cannot open " + copy + " (a copy of the record " + path_ + ")");
    if (repair_killed_writer) {
      // A SWMR writer's metadata cache writes objects beyond the end of allocation the
      // superblock recorded at the last flush; killed before the next one, the file's metadata
      // points past that end, which HDF5 refuses ("addr overflow") and would cut off on close.
      // What `h5clear --increment=0` does: the file's real end becomes the end of allocation.
      check(H5Fincrement_filesize(file_.get(), 0),
            "cannot extend the end of allocation of " + copy + " to its size");
    }
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

void RecordFile::change_structure(const std::function<void()>& create) {
  // A SWMR writer cannot create objects in HDF5 1.10: leave SWMR mode, add the objects to a copy
  // (edit_copy), and enter it again.
  edit_copy(false, create);
  reopen_swmr();
}

void RecordFile::require_space(uint64_t bytes, const std::string& what) const {
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
                   std::to_string(needed) +
                   " needed. Nothing of it was written; the record keeps "
                   "everything up to its last flush: free space, then continue with --resume");
  }
}

}  // namespace guidance
