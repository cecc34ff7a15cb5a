#pragma once

#include "guidance/api/Visibility.h"

#include <memory>
#include <string>
#include <vector>

#include "guidance/api/Dataset.h"
#include "guidance/api/GuideInit.h"
#include "guidance/api/Metric.h"
#include "guidance/api/Network.h"
#include "guidance/api/Params.h"
#include "guidance/api/Task.h"

namespace guidance {

/// The four kinds of plugin the host understands.
enum class PluginKind { Architecture, Dataset, Metric, GuideInit };

/// @return the name configs and the CLI use for a kind: "architecture", "dataset", "metric",
/// "guide-init".
inline const char* to_string(PluginKind kind) {
  switch (kind) {
    case PluginKind::Architecture: return "architecture";
    case PluginKind::Dataset: return "dataset";
    case PluginKind::Metric: return "metric";
    case PluginKind::GuideInit: return "guide-init";
  }
  return "unknown";
}

/// What every plugin tells about itself.
struct PluginInfo {
  std::string name;                ///< unique within its kind; the lookup name configs use
  std::string version;             ///< the plugin's own version, e.g. "1.0.0"
  std::string summary;             ///< one line
  std::vector<ParamSpec> params;   ///< the schema its config table is checked against
};

/// Base of every plugin: a stateless factory that describes itself.
class GUIDANCE_API Plugin {
 public:
  virtual ~Plugin() = default;
  virtual PluginKind kind() const = 0;
  virtual PluginInfo info() const = 0;
};

/// Builds networks. Tap names depend only on the task and the parameters.
class GUIDANCE_API ArchitecturePlugin : public Plugin {
 public:
  PluginKind kind() const final { return PluginKind::Architecture; }

  /// Builds a network sized for `task`, initialised from the current torch seed.
  virtual std::shared_ptr<Network> build(const TaskSpec& task, const Params& params) const = 0;
};

/// Opens datasets.
class GUIDANCE_API DatasetPlugin : public Plugin {
 public:
  PluginKind kind() const final { return PluginKind::Dataset; }

  /// Opens (reads or generates) the data. Throws std::invalid_argument when the parameters do not
  /// fit together (the host reports a config error, exit 2), and std::runtime_error naming the
  /// file and what is wrong with it when data is missing or malformed (exit 1).
  virtual std::shared_ptr<Dataset> open(const Params& params,
                                        const DatasetContext& context) const = 0;
};

/// Makes representational metrics.
class GUIDANCE_API MetricPlugin : public Plugin {
 public:
  PluginKind kind() const final { return PluginKind::Metric; }

  /// @return the traits every metric made by this plugin has (known without creating one).
  virtual MetricTraits traits() const = 0;

  virtual std::shared_ptr<Metric> create(const Params& params) const = 0;
};

/// Makes guide-initialisation strategies.
class GUIDANCE_API GuideInitPlugin : public Plugin {
 public:
  PluginKind kind() const final { return PluginKind::GuideInit; }

  virtual std::shared_ptr<GuideInitializer> create(const Params& params) const = 0;
};

/// Where a library registers its plugins; implemented by the host.
class GUIDANCE_API Registry {
 public:
  virtual ~Registry() = default;
  virtual void add(std::shared_ptr<Plugin> plugin) = 0;
};

}  // namespace guidance
