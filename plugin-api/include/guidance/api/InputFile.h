#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>

namespace guidance {

/// The largest file the workbench reads from a config's paths (datasets, text corpora, images,
/// TorchScript files, weights): 8 GiB. Larger files are refused before anything is allocated.
inline constexpr uint64_t kMaxInputFileBytes = uint64_t{8} << 30;

/// A problem with the value of one plugin parameter. The host reports it at that parameter's
/// place in the config ("file:line:column: key 'dataset.path': ..."), so a plugin need not know
/// where its parameters came from.
class ParamError : public std::invalid_argument {
 public:
  ParamError(std::string param, const std::string& message)
      : std::invalid_argument(message), param_(std::move(param)) {}
  const std::string& param() const { return param_; }

 private:
  std::string param_;
};

/// A file open for reading that was checked, on the open descriptor, to be a regular file
/// (symbolic links followed) of at most a bound. Device files (/dev/zero never ends), FIFOs
/// (a read blocks until a writer comes) and directories are refused before a byte is read.
class InputFile {
 public:
  /// Throws std::runtime_error "<path>: <why>" when the file is missing, unreadable, not a
  /// regular file, or larger than `max_bytes`.
  static InputFile open(const std::string& path, uint64_t max_bytes = kMaxInputFileBytes) {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
    const int descriptor = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (descriptor < 0) {
      const int error = errno;
      throw std::runtime_error(path + ": " +
                               (error == ENOENT ? std::string("no such file")
                                                : "cannot be opened for reading (" +
                                                      std::string(std::strerror(error)) + ")"));
    }
    InputFile file(path, descriptor);
    struct stat status {};
    if (::fstat(descriptor, &status) != 0) {
      throw std::runtime_error(path + ": cannot be examined (" + std::strerror(errno) + ")");
    }
    if (!S_ISREG(status.st_mode)) {
      throw std::runtime_error(path + ": is " + kind_of(status.st_mode) +
                               ", not a regular file");
    }
    file.size_ = static_cast<uint64_t>(status.st_size);
    if (file.size_ > max_bytes) {
      throw std::runtime_error(path + ": " + std::to_string(file.size_) +
                               " bytes is larger than the " + std::to_string(max_bytes) +
                               " bytes allowed");
    }
    file.max_bytes_ = max_bytes;
    ::fcntl(descriptor, F_SETFL, ::fcntl(descriptor, F_GETFL) & ~O_NONBLOCK);
    return file;
  }

  InputFile(InputFile&& other) noexcept
      : path_(std::move(other.path_)),
        descriptor_(std::exchange(other.descriptor_, -1)),
        size_(other.size_),
        max_bytes_(other.max_bytes_) {}
  InputFile& operator=(InputFile&&) = delete;
  InputFile(const InputFile&) = delete;
  ~InputFile() {
    if (descriptor_ >= 0) ::close(descriptor_);
  }

  const std::string& path() const { return path_; }
  /// The size when it was opened.
  uint64_t size() const { return size_; }
  int descriptor() const { return descriptor_; }

  /// Reads `count` bytes from the current position; throws if the file ends sooner.
  std::string read(uint64_t count) {
    std::string bytes(count, '\0');
    uint64_t done = 0;
    while (done < count) {
      const ssize_t got = ::read(descriptor_, bytes.data() + done, count - done);
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) throw std::runtime_error(path_ + ": read error (" + std::strerror(errno) + ")");
      if (got == 0) {
        throw std::runtime_error(path_ + ": truncated: ended after " + std::to_string(done) +
                                 " of " + std::to_string(count) + " bytes");
      }
      done += static_cast<uint64_t>(got);
    }
    return bytes;
  }

  /// Reads the whole file. A file that grew since it was opened is read on, up to the bound.
  std::string read_all() {
    std::string bytes = read(size_);
    char buffer[1 << 16];
    for (;;) {
      const ssize_t got = ::read(descriptor_, buffer, sizeof buffer);
      if (got == 0) return bytes;
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) throw std::runtime_error(path_ + ": read error (" + std::strerror(errno) + ")");
      if (bytes.size() + static_cast<uint64_t>(got) > max_bytes_) {
        throw std::runtime_error(path_ + ": grew past the " + std::to_string(max_bytes_) +
                                 " bytes allowed while it was read");
      }
      bytes.append(buffer, static_cast<size_t>(got));
    }
  }

 private:
  InputFile(std::string path, int descriptor) : path_(std::move(path)), descriptor_(descriptor) {}

  static std::string kind_of(mode_t mode) {
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISSOCK(mode)) return "a socket";
    return "not a plain file";
  }

  std::string path_;
  int descriptor_ = -1;
  uint64_t size_ = 0;
  uint64_t max_bytes_ = kMaxInputFileBytes;
};

/// InputFile::open for the file a plugin parameter names: a problem is a ParamError on `param`.
inline InputFile open_param_file(const std::string& param, const std::string& path,
                                 uint64_t max_bytes = kMaxInputFileBytes) {
  try {
    return InputFile::open(path, max_bytes);
  } catch (const std::runtime_error& error) {
    throw ParamError(param, error.what());
  }
}

/// Checks that a plugin parameter names a directory; throws ParamError on `param` otherwise.
inline void check_param_directory(const std::string& param, const std::string& path) {
  struct stat status {};
  if (::stat(path.c_str(), &status) != 0) {
    throw ParamError(param, path + ": no such directory");
  }
  if (!S_ISDIR(status.st_mode)) throw ParamError(param, path + ": is not a directory");
}

}  // namespace guidance
