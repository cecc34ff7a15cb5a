#include "host/plugins/PluginProbe.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "guidance/api/Export.h"
#include "host/common/AtomicFile.h"
#include "host/common/Errors.h"
#include "host/plugins/PluginCatalog.h"

extern char** environ;

namespace guidance {

namespace fs = std::filesystem;

namespace {

constexpr const char* kProbeVariable = "GUIDANCE_PLUGIN_PROBE";

// In a probe child, before main(): loads the library as the host would (a refusal is fine, the
// parent repeats the load in-process and reports it) and exits without running main(), but through
// exit(), as the host ends: a library whose failed load leaves the loader's state broken crashes
// only in the exit handlers (a damaged copy's dependencies' destructors, found by the damage
// drill). Being a constructor, it needs no command-line entry: every program that links the
// catalog (the CLI, each test binary) can be spawned as its own probe.
__attribute__((constructor)) void run_as_probe_when_asked() {
  const char* path = std::getenv(kProbeVariable);
  if (path == nullptr) return;
  try {
    PluginCatalog catalog;
    catalog.load_library(path);
  } catch (const std::exception&) {
    // Thrown in-process too, where the caller sees it; the probe asks only whether loading crashes.
  }
  std::exit(0);
}

/// How a probe ended, and whether that depends only on the library file and the host.
struct ProbeOutcome {
  std::optional<std::string> refusal;  ///< why the library is refused, without its path
  bool cacheable = true;
};

ProbeOutcome spawn_probe(const std::string& path) {
  std::vector<std::string> environment;
  const std::string prefix = std::string(kProbeVariable) + "=";
  for (char** variable = environ; *variable != nullptr; ++variable) {
    if (std::strncmp(*variable, prefix.c_str(), prefix.size()) != 0) {
      environment.push_back(*variable);
    }
  }
  environment.push_back(prefix + path);
  std::vector<char*> envp;
  for (auto& variable : environment) envp.push_back(variable.data());
  envp.push_back(nullptr);
  std::string name = "guidance-plugin-probe";
  char* argv[] = {name.data(), nullptr};

  // stdout is dropped (a plugin's chatter); stderr stays the user's, so whatever a crashing child
  // prints (glibc's abort messages, say) is seen.
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  int error = posix_spawn(&pid, "/proc/self/exe", &actions, nullptr, argv, envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (error != 0) {
    return {std::string("cannot start a child process to probe it: ") + std::strerror(error),
            false};
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }

  if (WIFEXITED(status)) {
    int code = WEXITSTATUS(status);
    if (code == 0) return {std::nullopt, true};
    // A library whose initialisers call exit() would end the host just the same.
    return {"probing it in a child process ended with exit status " + std::to_string(code), true};
  }
  int signal = WTERMSIG(status);
  const char* abbreviation = sigabbrev_np(signal);
  std::string signal_name =
      abbreviation ? std::string("SIG") + abbreviation : "signal " + std::to_string(signal);
  // A fault says something about the file; a kill from outside (Ctrl-C, the OOM killer) does not.
  bool fault = signal == SIGSEGV || signal == SIGBUS || signal == SIGILL || signal == SIGFPE ||
               signal == SIGABRT || signal == SIGSYS || signal == SIGTRAP;
  return {"probing it in a child process ended with " + signal_name +
              (fault ? ": the file is damaged, or not a plugin library for this host; rebuild it, "
                       "or remove it"
                     : ""),
          fault};
}

/// What the cached outcome was computed for: the library file's identity and the host's.
struct ProbeKey {
  std::string path;  ///< absolute
  std::string file;  ///< size, modification time, device:inode
  std::string host;  ///< version, plugin ABI, LibTorch, C++11 string ABI
};

std::optional<ProbeKey> key_of(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return std::nullopt;
  std::ostringstream file;
  file << info.st_size << ' ' << info.st_mtim.tv_sec << '.' << info.st_mtim.tv_nsec << ' '
       << info.st_dev << ':' << info.st_ino;
  std::string host = std::string("guidance ") + GUIDANCE_VERSION + " abi " +
                     std::to_string(kAbiVersion) + " torch " + TORCH_VERSION + " cxx11 " +
                     std::to_string(GUIDANCE_CXX11_ABI);
  return ProbeKey{path, file.str(), host};
}

// Cache lines: PATH \t FILE \t HOST \t ok|refused \t REFUSAL, with \, tab and newline escaped.
std::string escape(const std::string& text) {
  std::string escaped;
  for (char c : text) {
    if (c == '\\') escaped += "\\\\";
    else if (c == '\t') escaped += "\\t";
    else if (c == '\n') escaped += "\\n";
    else escaped += c;
  }
  return escaped;
}

std::vector<std::string> unescaped_fields(const std::string& line) {
  std::vector<std::string> fields(1);
  for (size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '\t') {
      fields.emplace_back();
    } else if (line[i] == '\\' && i + 1 < line.size()) {
      char next = line[++i];
      fields.back() += next == 't' ? '\t' : next == 'n' ? '\n' : next;
    } else {
      fields.back() += line[i];
    }
  }
  return fields;
}

std::vector<std::string> cache_lines(const std::string& cache) {
  std::vector<std::string> lines;
  std::ifstream in(cache);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::optional<ProbeOutcome> cached(const std::string& cache, const ProbeKey& key) {
  for (const auto& line : cache_lines(cache)) {
    std::vector<std::string> fields = unescaped_fields(line);
    if (fields.size() != 5 || fields[0] != key.path || fields[1] != key.file ||
        fields[2] != key.host) {
      continue;
    }
    if (fields[3] == "ok") return ProbeOutcome{std::nullopt, true};
    if (fields[3] == "refused") return ProbeOutcome{fields[4], true};
  }
  return std::nullopt;
}

/// Replaces the path's line, dropping lines of libraries that are gone (test folders, say). A
/// cache that cannot be written only costs a probe next time.
void remember(const std::string& cache, const ProbeKey& key, const ProbeOutcome& outcome) {
  std::error_code error;
  std::ostringstream out;
  for (const auto& line : cache_lines(cache)) {
    std::vector<std::string> fields = unescaped_fields(line);
    if (fields.size() == 5 && fields[0] != key.path && fs::exists(fields[0], error)) {
      out << line << '\n';
    }
  }
  out << escape(key.path) << '\t' << escape(key.file) << '\t' << escape(key.host) << '\t'
      << (outcome.refusal ? "refused" : "ok") << '\t' << escape(outcome.refusal.value_or(""))
      << '\n';
  try {
    write_file_atomically(cache, out.str());
  } catch (const RunError&) {
  }
}

}  // namespace

std::string plugin_probe_cache_path() {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  if (xdg != nullptr && xdg[0] == '/') return std::string(xdg) + "/guidance/plugin-probes.tsv";
  const char* home = std::getenv("HOME");
  if (home != nullptr && home[0] != '\0') {
    return std::string(home) + "/.cache/guidance/plugin-probes.tsv";
  }
  return "";
}

std::optional<std::string> probe_plugin_library(const std::string& path) {
  std::error_code error;
  std::string absolute = fs::absolute(path, error).lexically_normal().string();
  if (error) absolute = path;
  // In the probe child itself, this is the load being tried.
  const char* probing = std::getenv(kProbeVariable);
  if (probing != nullptr && absolute == probing) return std::nullopt;

  const std::string cache = plugin_probe_cache_path();
  std::optional<ProbeKey> key = key_of(absolute);
  std::optional<ProbeOutcome> outcome;
  if (key && !cache.empty()) outcome = cached(cache, *key);
  if (!outcome) {
    outcome = spawn_probe(absolute);
    if (key && !cache.empty() && outcome->cacheable) remember(cache, *key, *outcome);
  }
  if (!outcome->refusal) return std::nullopt;
  return "plugin library '" + path + "' was not loaded: " + *outcome->refusal;
}

}  // namespace guidance
