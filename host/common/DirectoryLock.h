#pragma once

#include <string>

namespace guidance {

/// An exclusive lock on a directory, held for the life of this object by one open file
/// description of `<directory>/<file>` (an open-file-description lock, fcntl F_OFD_SETLK).
///
/// The kernel releases it when its holder exits however it exits (SIGKILL included), so a killed
/// run never leaves a stale lock; NFS v4 and other shared file systems forward it to the server.
/// Two holders conflict even within one process. The file names its holder (host, pid, time),
/// for the message a refused acquirer prints; it is left in place on release, as removing it
/// would race with the next acquirer.
class DirectoryLock {
 public:
  /// Takes the lock, creating the directory and the lock file as needed.
  /// Throws RunBusyError naming the directory and the holder when another holder has it, and
  /// RunError naming the path when the file cannot be created or locked.
  DirectoryLock(const std::string& directory, const std::string& file = "run.lock");
  ~DirectoryLock();
  DirectoryLock(const DirectoryLock&) = delete;
  DirectoryLock& operator=(const DirectoryLock&) = delete;

  const std::string& path() const { return path_; }

  /// @return the holder named in `<directory>/<file>` ("host H, pid P, since T"), or "" when no
  /// one holds the lock now. Never blocks.
  static std::string holder(const std::string& directory, const std::string& file = "run.lock");

 private:
  std::string path_;
  int descriptor_ = -1;
};

}  // namespace guidance
