#include "host/common/DirectoryLock.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>

#include "host/common/Errors.h"
#include "host/common/TextFormat.h"

namespace guidance {

namespace fs = std::filesystem;

namespace {

struct flock whole_file(short type) {
  struct flock range {};
  range.l_type = type;
  range.l_whence = SEEK_SET;
  range.l_start = 0;
  range.l_len = 0;  // to the end, however long the file grows
  return range;
}

std::string read_all(int descriptor) {
  std::string text;
  char buffer[256];
  off_t offset = 0;
  for (ssize_t got; (got = pread(descriptor, buffer, sizeof(buffer), offset)) > 0; offset += got) {
    text.append(buffer, static_cast<size_t>(got));
    if (text.size() > 4096) break;
  }
  while (!text.empty() && (text.back() == '\n' || text.back() == '\0')) text.pop_back();
  return text;
}

std::string description() {
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  return "host " + std::string(host) + ", pid " + std::to_string(getpid()) + ", since " +
         now_iso8601();
}

}  // namespace

DirectoryLock::DirectoryLock(const std::string& directory, const std::string& file)
    : path_((fs::path(directory) / file).string()) {
  std::error_code error;
  fs::create_directories(directory, error);
  if (error) throw RunError("cannot create the run directory " + directory + ": " + error.message());
  descriptor_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (descriptor_ < 0) {
    throw RunError("cannot create the lock file " + path_ + ": " + std::strerror(errno));
  }
  struct flock range = whole_file(F_WRLCK);
  if (fcntl(descriptor_, F_OFD_SETLK, &range) != 0) {
    int reason = errno;
    std::string holder = read_all(descriptor_);
    ::close(descriptor_);
    descriptor_ = -1;
    if (reason == EAGAIN || reason == EACCES) {
      throw RunBusyError(directory + " is in use by another process (" +
                         (holder.empty() ? std::string("holder unknown") : holder) +
                         "); nothing was changed. Wait for it, or stop it first");
    }
    throw RunError("cannot lock " + path_ + ": " + std::strerror(reason));
  }
  // Without the description the lock still holds; only a refused acquirer's message is poorer.
  std::string text = description() + "\n";
  bool described = ftruncate(descriptor_, 0) == 0 &&
                   pwrite(descriptor_, text.data(), text.size(), 0) ==
                       static_cast<ssize_t>(text.size());
  static_cast<void>(described);
}

DirectoryLock::~DirectoryLock() {
  if (descriptor_ >= 0) ::close(descriptor_);  // closing the description releases the lock
}

std::string DirectoryLock::holder(const std::string& directory, const std::string& file) {
  std::string path = (fs::path(directory) / file).string();
  int descriptor = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (descriptor < 0) return "";
  struct flock range = whole_file(F_WRLCK);
  std::string holder;
  if (fcntl(descriptor, F_OFD_GETLK, &range) == 0 && range.l_type != F_UNLCK) {
    holder = read_all(descriptor);
    if (holder.empty()) holder = "holder unknown";
  }
  ::close(descriptor);
  return holder;
}

}  // namespace guidance
