#include "host/common/AtomicFile.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "host/common/Errors.h"

namespace guidance {

namespace fs = std::filesystem;

void write_file_atomically(const std::string& path, const std::string& bytes) {
  fs::path target(path);
  std::error_code ignored;
  if (target.has_parent_path()) fs::create_directories(target.parent_path(), ignored);
  std::string temporary = path + ".partial." + std::to_string(::getpid());
  auto fail = [&](const std::string& doing, int reason) {
    fs::remove(temporary, ignored);
    throw RunError("cannot write '" + path + "' (" + doing + " '" + temporary + "'): " +
                   std::strerror(reason) + "; the previous file, if any, is unchanged");
  };
  int descriptor = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (descriptor < 0) fail("creating", errno);
  for (size_t written = 0; written < bytes.size();) {
    ssize_t count = ::write(descriptor, bytes.data() + written, bytes.size() - written);
    if (count < 0 && errno == EINTR) continue;
    if (count <= 0) {
      int reason = count < 0 ? errno : EIO;
      ::close(descriptor);
      fail("writing", reason);
    }
    written += static_cast<size_t>(count);
  }
  if (::fsync(descriptor) != 0) {
    int reason = errno;
    ::close(descriptor);
    fail("syncing", reason);
  }
  if (::close(descriptor) != 0) fail("closing", errno);
  if (std::rename(temporary.c_str(), path.c_str()) != 0) fail("renaming", errno);
  // The rename lives in the folder's entries: without this sync a power loss may undo it.
  std::string folder = target.has_parent_path() ? target.parent_path().string() : ".";
  int directory = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (directory >= 0) {
    ::fsync(directory);
    ::close(directory);
  }
}

}  // namespace guidance
