#pragma once

#include <stdexcept>
#include <string>

namespace guidance {

/// Root of every error the host raises on purpose. The CLI maps the subclasses to exit codes:
/// UsageError, ConfigError and PluginLoadError exit 2, Interrupted 130, everything else 1.
class GuidanceError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The command line is wrong.
class UsageError : public GuidanceError {
 public:
  using GuidanceError::GuidanceError;
};

/// A config file, or a plugin table in it, is wrong. The message starts with file:line:column.
class ConfigError : public GuidanceError {
 public:
  using GuidanceError::GuidanceError;
};

/// A plugin directory or library could not be used. The message names the path and the reason.
class PluginLoadError : public GuidanceError {
 public:
  using GuidanceError::GuidanceError;
};

/// No plugin of that kind and name is loaded. The message lists the closest names.
class UnknownPluginError : public ConfigError {
 public:
  using ConfigError::ConfigError;
};

/// Something failed while running (data, training, recording).
class RunError : public GuidanceError {
 public:
  using GuidanceError::GuidanceError;
};

/// Another live process holds the run directory's lock (it trains or resumes that run). The
/// message names the directory and the holder's host and pid. Nothing was changed.
class RunBusyError : public RunError {
 public:
  using RunError::RunError;
};

/// A stop (Ctrl-C, SIGTERM) was honoured where the work can be continued later; the CLI exits
/// 130. The message says how to continue.
class Interrupted : public GuidanceError {
 public:
  using GuidanceError::GuidanceError;
};

}  // namespace guidance
