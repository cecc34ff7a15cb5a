#pragma once

#include <array>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <toml++/toml.h>

#include "guidance/api/Params.h"
#include "guidance/api/Plugin.h"
#include "guidance/api/Training.h"
#include "host/config/Overrides.h"
#include "host/recording/ActivationDtype.h"

namespace guidance {

class PluginCatalog;

/// Bounds on what a config may ask for, checked before anything is allocated (docs/config.md,
/// "Limits").
namespace config_limits {
constexpr uint64_t kMaxFileBytes = uint64_t{1} << 20;  ///< a config file is at most 1 MiB
constexpr int kMaxNesting = 32;          ///< arrays and inline tables nested at most this deep
constexpr int kMaxDottedKeyParts = 32;   ///< parts of one dotted key (a.b.c has 3)
constexpr size_t kMaxRunNameBytes = 512;        ///< run.name in all
constexpr size_t kMaxRunNameComponentBytes = 128;  ///< one '/'-separated part of run.name
}  // namespace config_limits

/// Checks that `name` is usable as run.name: a relative path of 1 to kMaxRunNameBytes bytes whose
/// '/'-separated components are non-empty, not "." or "..", at most kMaxRunNameComponentBytes,
/// free of control characters and backslashes, and not the guide cache's folder. @return "" if
/// it is, else why not (for a message naming the key).
std::string run_name_problem(const std::string& name);

/// A parsed TOML config file, before validation: the text, the path and the document.
struct ConfigDocument {
  std::string path;                   ///< as given
  std::string directory;              ///< relative paths in the config resolve against it
  std::shared_ptr<toml::table> root;  ///< the parsed document, overrides applied
  ConfigOverrides overrides;          ///< the command line's, applied again to each sweep run

  /// Reads and parses a file, then applies `overrides`. Throws ConfigError "file:line:column:
  /// <syntax error>", or naming the file when it cannot be read, is not a regular file, is larger
  /// than config_limits::kMaxFileBytes, or nests deeper than the limits (refused before parsing,
  /// as the parser recurses), or naming the override at fault.
  static ConfigDocument parse(const std::string& path, const ConfigOverrides& overrides = {});

  /// @return `run.plugin_dirs` (resolved against directory), read before plugins are loaded.
  std::vector<std::string> plugin_dirs() const;

  /// @return the names of the plugins the config may load, sorted, read before any is loaded
  /// (what to build before running it): every `plugin` key's string, every string under a
  /// `<table>.plugin` or `record.metrics` key ([sweep] axes included), and kDefaultMetric and
  /// kDefaultGuideInit where a key that would name another is absent. Names only: a misspelt one
  /// is reported when the config is read against the plugins.
  std::vector<std::string> plugin_names() const;
};

/// A plugin chosen in a config table, with its validated parameters.
struct PluginChoice {
  std::string name;      ///< the plugin's lookup name
  Params params;         ///< validated against the plugin's schema, defaults filled in
  std::string location;  ///< file:line:column of the `plugin` key, for later errors
  std::string table;     ///< the table's key path, e.g. "dataset" or "guide.init"
  /// file:line:column of each parameter the config gives (absent ones took their default).
  std::map<std::string, std::string> param_locations;
};

/// @return where an error a plugin raised about `choice` belongs: for a ParamError, the
/// parameter's location and key ("file:line:column: key 'dataset.path'"), else the location of
/// the `plugin` key.
std::string error_location(const PluginChoice& choice, const std::exception& error);

/// A metric whose similarity matrices every snapshot records: `[record] metrics` entries are a
/// plugin name (default parameters) or a table {plugin = "...", name = "...", <parameters>}.
struct RecordMetric {
  std::string name;     ///< its name in the record (HDF5 group): `name`, else the plugin's name
  PluginChoice plugin;  ///< the metric plugin and its parameters
};

/// The key of every plugin table that names its plugin: no plugin may declare a parameter so named.
inline constexpr const char* kPluginKey = "plugin";
/// The key of `[guide]` that holds the guide-init table: no architecture may declare it either.
inline constexpr const char* kGuideInitKey = "init";
/// The guide-init plugin of a [guide] without [guide.init].
inline constexpr const char* kDefaultGuideInit = "untrained";

/// The paper's metric, used for guidance and records unless a config names another.
inline constexpr const char* kDefaultMetric = "linear-cka";

/// How the learning rate changes over a run (`train.schedule`).
enum class Schedule { Constant, Step, Cosine };
/// The config spelling of each schedule, in declaration order.
inline constexpr std::array<const char*, 3> kScheduleNames = {"constant", "step", "cosine"};

/// What the guide sees in a guided step (`guidance.guide_input`): the target's batch; the
/// released noise (images: randn + 0.1·randn clamped to [0, 1]; tokens: uniform in
/// [0, the batch's largest id], padding included); or the workbench's earlier noise (images:
/// randn clamped to ±noise_clamp; tokens: uniform over the vocabulary at real positions only).
enum class GuideInput { Batch, Noise, Normal };
/// The config spelling of each guide input, in declaration order.
inline constexpr std::array<const char*, 3> kGuideInputNames = {"batch", "noise", "normal"};

/// The arithmetic of forward passes (`train.precision`), named as PyTorch Lightning names it:
/// float32 throughout, or bf16 autocast for the target's and the guide's forward passes with
/// float32 master weights, task loss and distances.
enum class Precision { Float32, BFloat16Mixed };
inline constexpr std::array<const char*, 2> kPrecisionNames = {"32", "bf16-mixed"};

/// Whether the frozen guide's outputs are kept for the whole train split
/// (`guidance.guide_cache`): `auto` when the guide declares batch invariance and the outputs fit
/// the memory budget, `on` whenever they fit, or never.
enum class GuideCacheMode { Auto, On, Off };
inline constexpr std::array<const char*, 3> kGuideCacheModeNames = {"auto", "on", "off"};

/// Which tap set the uniform layer map runs over (`guidance.tap_set`); see TapSet.
inline constexpr std::array<const char*, 2> kTapSetNames = {"modules", "blocks"};

/// How the uniform map treats several guide taps that land on one target tap
/// (`guidance.uniform_map`): as the released code (its scores are keyed by the target tap, so
/// only the last guide tap counts; a single guide tap goes to the first target tap), or every
/// pair kept and summed (the workbench's earlier map; a single guide tap goes to the last).
enum class UniformMapRule { Released, AllPairs };
inline constexpr std::array<const char*, 2> kUniformMapRuleNames = {"released", "all-pairs"};

/// Whether the frozen guide runs in training or evaluation mode (`guidance.guide_mode`). The
/// released code puts image guides in eval mode and never does so for sequence guides, whose
/// dropout stays active.
enum class GuideMode { Released, Eval, Train };
inline constexpr std::array<const char*, 3> kGuideModeNames = {"released", "eval", "train"};

/// Which guide tap each target tap is pulled toward (`guidance.layer_map`): the released uniform
/// map (spelled kUniformLayerMap), or the explicit pairs a config lists instead.
enum class LayerMapKind { Uniform, Explicit };
inline constexpr const char* kUniformLayerMap = "uniform";

// The sections below hold each key's default; host/config/ConfigKeys.cpp declares, once per key,
// its name, range or choices and doc, which drive reading, the resolved TOML and docs/config.md.

/// Which c10d backend a distributed run uses (`run.distributed.backend`): Gloo on CPUs and NCCL
/// on CUDA devices by default.
enum class DistributedBackend { Auto, Gloo, Nccl };
/// The config spelling of each backend, in declaration order.
inline constexpr std::array<const char*, 3> kDistributedBackendNames = {"auto", "gloo", "nccl"};

/// [run.distributed]: how a run launched as several processes (docs/distributed.md) joins its
/// process group. Ignored by a run of one process.
struct DistributedSection {
  DistributedBackend backend = DistributedBackend::Auto;
  int64_t timeout = 1800;  ///< seconds for the rendezvous and for each collective
};

/// [run]: identity and environment of the run.
struct RunSection {
  std::string name;
  uint64_t seed = 0;
  std::string device = "cpu";
  int64_t threads = 0;
  std::string output = "results";
  std::vector<std::string> plugin_dirs;
  int64_t checkpoint_every = 200;
  int64_t log_every = 20;
  DistributedSection distributed;
};

/// [train]: optimisation. The part a guide's own training shares (optimiser, learning rate,
/// weight decay, batch size, epochs, step budget, gradient clipping) is the API's GuideTraining,
/// declared once.
struct TrainSection : GuideTraining {
  double momentum = 0.9;
  bool nesterov = false;
  Schedule schedule = Schedule::Constant;
  int64_t step_epochs = 30;
  double gamma = 0.1;
  double min_learning_rate = 0.0;
  int64_t warmup_steps = 0;
  int64_t accumulate = 1;
  int64_t eval_batch_size = 512;
  int64_t train_eval_size = 2048;
  Precision precision = Precision::Float32;
};

/// One explicit layer-map entry: a guide tap aligned to a target tap.
struct LayerPair {
  std::string guide_tap;
  std::string target_tap;
};

/// [guidance]: how the target is pulled toward the guide.
struct GuidanceSection {
  bool enabled = true;
  PluginChoice metric;
  double alpha = 1.0;
  LayerMapKind layer_map = LayerMapKind::Uniform;
  std::vector<LayerPair> pairs;        ///< explicit map
  std::string layer_map_location;      ///< file:line:column, for tap-name errors
  int64_t guided_steps = 0;
  GuideInput guide_input = GuideInput::Batch;
  double noise_clamp = 3.0;
  TapSet tap_set = TapSet::Modules;
  UniformMapRule uniform_map = UniformMapRule::Released;
  GuideMode guide_mode = GuideMode::Released;
  bool single_target_forward = false;  ///< taps from the task's forward instead of a second one
  bool tokenwise = false;
  bool mask_padding = false;
  GuideCacheMode guide_cache = GuideCacheMode::Auto;
  int64_t guide_cache_mb = 0;          ///< the guide-tap cache's budget; 0 = from free memory
  bool guide_cache_bf16 = false;       ///< store cached outputs in bfloat16
  std::vector<std::string> guide_taps;
  std::vector<std::string> target_taps;
  std::string guide_taps_location;     ///< file:line:column of `guide_taps`, for tap-name errors
  std::string target_taps_location;    ///< file:line:column of `target_taps`
  std::string tap_set_location;        ///< file:line:column of `tap_set` (or the section)
  /// Knowledge distillation (Hinton et al. 2015) from the guide's logits, added to the loss:
  /// weight · T² · KL(softmax(guide / T) ‖ softmax(target / T)); weight 0 = off.
  double distill_weight = 0.0;
  double distill_temperature = 4.0;
  std::string distill_location;        ///< file:line:column of `distillation`, for later errors

  /// @return true when the loss has a distillation term.
  bool distilling() const { return distill_weight > 0.0; }
};

/// [guide]: the frozen guide network and how it is prepared.
struct GuideSection {
  PluginChoice architecture;  ///< [guide] plugin = ... (an architecture)
  PluginChoice init;          ///< [guide.init] plugin = ... (a guide-init strategy)
};

/// @return what a guide is, as `check` and a run's header name it: its architecture, the file
/// of one read from a file (a `path` parameter), and where its weights come from in brackets:
/// "weights from the file" for an architecture whose `weights` parameter is "file" when the
/// init keeps the architecture's weights, else the init ("convnet [trained]",
/// "torchscript (model.pt) [weights from the file]").
std::string describe_guide(const GuideSection& guide);

/// [record]: what the HDF5 record holds besides the time series.
struct RecordSection {
  int64_t every = 0;
  std::vector<int64_t> at_steps;
  bool at_end = true;
  int64_t probe_size = 256;
  ActivationDtype activation_dtype = ActivationDtype::Float32;
  std::vector<RecordMetric> metrics;
  int64_t similarity_memory_mb = 1024;
};

/// A validated config for one run.
struct Config {
  ConfigDocument document;  ///< the (possibly sweep-expanded) document it came from
  RunSection run;
  PluginChoice dataset;
  PluginChoice target;
  std::optional<GuideSection> guide;
  GuidanceSection guidance;
  TrainSection train;
  RecordSection record;

  /// @return true when a guide is configured and guidance is enabled.
  bool guided() const { return guide.has_value() && guidance.enabled; }

  /// @return the run's record directory: <output>/<name>.
  std::string run_directory() const;

  /// @return the resolved config as TOML text (defaults filled in), for records and provenance.
  std::string resolved_toml() const;
};

/// Validates a document into a Config: every section and key, and every plugin table against
/// its plugin's schema. Throws ConfigError starting with file:line:column and naming the key.
Config validate_config(const ConfigDocument& document, const PluginCatalog& catalog);

/// Reads a plugin choice given on a command line: a plugin name (default parameters) or an
/// inline TOML table `{ plugin = "...", <parameters> }`, checked against the plugin's schema.
/// @param option names the option in errors, e.g. "--metric"
/// @throws ConfigError naming the option, the position in the text and the key at fault
PluginChoice parse_plugin_choice(const std::string& text, PluginKind kind,
                                 const PluginCatalog& catalog, const std::string& option);

/// Resolves a path from a config against the config's directory (absolute paths unchanged).
std::string resolve_path(const std::string& directory, const std::string& path);

}  // namespace guidance
